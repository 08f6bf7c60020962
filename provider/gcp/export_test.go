package gcp

// RegionalEndpoint exposes regionalEndpoint to the tests.
var RegionalEndpoint = regionalEndpoint
