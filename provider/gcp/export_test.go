package gcp

// RegionalEndpoint exposes regionalEndpoint to the tests.
var RegionalEndpoint = regionalEndpoint

// Started exposes the event of the Notifier's first Receive starting.
func (n *Notifier) Started() <-chan struct{} { return n.started }
