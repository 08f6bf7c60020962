package degrade_test

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/credkit/credkit/health/degrade/internal/degradetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

const (
	keyOld = degradetest.KeyOld
	keyNew = degradetest.KeyNew
	keyC   = degradetest.KeyC
)

type step = degradetest.Step

var (
	newFaultServer = degradetest.NewServer
	newClock       = degradetest.NewClock
	async          = degradetest.Async
	newRotating    = degradetest.NewRotating
	get            = degradetest.Get
	newTextLogger  = degradetest.NewTextLogger
	statics        = degradetest.Statics
)
