package fakeclock

import (
	"context"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestTimersFireInOrderAtTheirDeadline(t *testing.T) {
	c := New(epoch)
	a := c.NewTimer(2 * time.Second)
	b := c.NewTimer(time.Second)
	c.Advance(1500 * time.Millisecond)
	select {
	case got := <-b.C():
		if want := epoch.Add(time.Second); !got.Equal(want) {
			t.Fatalf("b fired at %v, want %v", got, want)
		}
	default:
		t.Fatal("b did not fire")
	}
	select {
	case <-a.C():
		t.Fatal("a fired early")
	default:
	}
	c.Advance(time.Second)
	if got := <-a.C(); !got.Equal(epoch.Add(2 * time.Second)) {
		t.Fatalf("a fired at %v", got)
	}
	if !c.Now().Equal(epoch.Add(2500 * time.Millisecond)) {
		t.Fatalf("now = %v", c.Now())
	}
}

func TestStopAndReset(t *testing.T) {
	c := New(epoch)
	tm := c.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of an armed timer reported false")
	}
	if tm.Stop() {
		t.Fatal("second Stop reported true")
	}
	c.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
	if tm.Reset(time.Minute) {
		t.Fatal("Reset of a stopped timer reported it active")
	}
	if d := c.AdvanceToNext(); d != time.Minute {
		t.Fatalf("AdvanceToNext moved %v, want 1m", d)
	}
	<-tm.C()
}

func TestWaitTimers(t *testing.T) {
	c := New(epoch)
	go func() {
		tm := c.NewTimer(time.Second)
		<-tm.C()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !c.WaitTimers(ctx, 1) {
		t.Fatal("timer never armed")
	}
	c.Advance(time.Second)
	if n := c.Timers(); n != 0 {
		t.Fatalf("%d timers armed after firing", n)
	}
}
