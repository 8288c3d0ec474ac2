package main

import (
	"github.com/lensflow/lensflow/shared/orders"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/reminders"
	"github.com/lensflow/lensflow/shared/scans"
)

// event is one event type: its topic, the functions that publish it, and
// its data struct, from which its schema is generated.
type event struct {
	Type  string
	Topic string
	// Producers are the functions (platform names) that publish it; infra's
	// Pub/Sub publisher grants say the same (a test compares them).
	Producers []string
	Data      any
	// Dir is the package directory of Data, relative to the module root,
	// whose Go comments become the schema's descriptions.
	Dir string
}

// catalog is every event type lensflow publishes. A new type is added here
// (a test fails on a com.lensflow.* type constant that is not).
var catalog = []event{
	{scans.TypeScanReceived, scans.TopicScanReceived, []string{"Scans"}, scans.ScanReceived{}, "shared/scans"},
	{orders.TypeOrderPlaced, orders.TopicOrderPlaced, []string{"Orders"}, orders.OrderPlaced{}, "shared/orders"},
	{orders.TypeJobQueued, orders.TopicManufacturingJobs, []string{"Manufacturing"}, orders.JobEvent{}, "shared/orders"},
	{orders.TypeJobStatusChanged, orders.TopicJobStatus, []string{"Lab"}, orders.JobEvent{}, "shared/orders"},
	{orders.TypeDesignRevised, orders.TopicDesignRevised, []string{"Orders"}, orders.DesignRevised{}, "shared/orders"},
	{orders.TypeCommentPosted, orders.TopicCommentPosted, []string{"Orders"}, orders.CommentPosted{}, "shared/orders"},
	{reminders.TypeFollowUpDue, reminders.TopicFollowUpDue, []string{"Tasks"}, reminders.FollowUpDue{}, "shared/reminders"},
}

// outsider is a consumer that is not a function of the platform.
type outsider struct {
	Name string
	Spec ports.SubscriptionSpec
}

// outsiders are the programs outside the deployed functions that consume
// events through subscriptions of their own.
var outsiders = []outsider{
	{"lathe cell (`scripts/lathecell`)", orders.LatheCellSubscription},
}
