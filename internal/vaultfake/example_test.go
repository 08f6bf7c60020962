package vaultfake_test

import (
	"fmt"
	"time"

	"github.com/credkit/credkit/internal/fakeclock"
	"github.com/credkit/credkit/internal/vaultfake"
)

func Example() {
	clk := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	fake := vaultfake.New(clk)
	defer fake.Close()
	fake.DBRole("readonly", vaultfake.DBRole{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour})
	c := fake.Client(fake.RootToken()) // the real Vault API client

	sec, _ := c.Logical().Read("database/creds/readonly")
	fmt.Println(sec.LeaseDuration, sec.Renewable, fake.LeaseValid(sec.LeaseID))

	clk.Advance(50 * time.Minute)
	r, _ := c.Sys().Renew(sec.LeaseID, 3600)
	fmt.Println(r.LeaseDuration)
	clk.Advance(50 * time.Minute) // now the renewal is capped by the max TTL
	r, _ = c.Sys().Renew(sec.LeaseID, 3600)
	fmt.Println(r.LeaseDuration)

	clk.Advance(21 * time.Minute)
	fmt.Println(fake.LeaseValid(sec.LeaseID), fake.Calls("GET database/creds/readonly"))

	fake.Seal()
	_, err := c.Logical().Read("secret/data/anything")
	fmt.Println(err != nil)
	// Output:
	// 3600 true true
	// 3600
	// 1200
	// false 1
	// true
}
