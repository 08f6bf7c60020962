package fakeclock_test

import (
	"fmt"
	"time"

	"github.com/credkit/credkit/internal/fakeclock"
)

func Example() {
	clk := fakeclock.New(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	t := clk.NewTimer(time.Hour)
	clk.Advance(90 * time.Minute) // an hour and a half pass at once
	fmt.Println((<-t.C()).Format(time.Kitchen), clk.Now().Format(time.Kitchen))
	// Output: 10:00AM 10:30AM
}
