package topo

// The built-in formats, registered in one place so their order is explicit:
// it is the order of "no parser accepts this file (tried: ...)" and breaks
// ties in detection. The lab's own format comes first, then the vendors'.
// A new format adds its type here and lives in a file of its own.
func init() {
	Register(xyzCSV{})
	Register(csoFormat{})
	Register(csoRawFormat{})
	Register(pentacamFormat{})
}
