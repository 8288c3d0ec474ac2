// Command functions lists the registered functions, one per line, for
// scripts/deploy.sh and the infrastructure checks:
//
//	<dir> <Name> http  <route> [<route>...]
//	<dir> <Name> event <topic> <subscription> <dead-letter topic> <max attempts>   (one line per topic)
//
// where <dir> is the function's package directory under functions/.
package main

import (
	"fmt"
	"strconv"
	"strings"

	_ "github.com/lensflow/lensflow/scripts/internal/allfunctions"
	"github.com/lensflow/lensflow/shared/platform"
)

func main() {
	for _, line := range lines() {
		fmt.Println(line)
	}
}

// lines are the list's lines.
func lines() []string {
	var out []string
	for _, f := range platform.Functions() {
		dir := strings.ToLower(f.Name)
		if f.HTTP != nil {
			routes := make([]string, len(f.Routes))
			for i, r := range f.Routes {
				routes[i] = strings.ReplaceAll(r.Pattern, " ", "_")
			}
			out = append(out, strings.Join([]string{dir, f.Name, "http", strings.Join(routes, " ")}, " "))
			continue
		}
		for _, s := range platform.Subscriptions(f) {
			out = append(out, strings.Join([]string{dir, f.Name, "event", s.Topic, s.Name, s.DeadLetterTopic, strconv.Itoa(s.MaxDeliveryAttempts)}, " "))
		}
	}
	return out
}
