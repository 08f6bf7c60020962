package degrade

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// An inner layer's outcome survives the packing into the call state's word:
// exactly below 34 s, to the microsecond below 9.5 h, to the millisecond
// beyond (any ceiling rejects those anyway).
func TestPackOutcome(t *testing.T) {
	for _, tc := range []struct {
		in, want time.Duration
	}{
		{0, 0},
		{-time.Second, 0},
		{1, 1},
		{1500 * time.Microsecond, 1500 * time.Microsecond},
		{7 * time.Second, 7 * time.Second},
		{34*time.Second + 359738367, 34*time.Second + 359738367}, // 2^35-1 ns
		{time.Minute + 1234567, time.Minute + 1234*time.Microsecond},
		{6*time.Hour + 1, 6 * time.Hour},
		{48*time.Hour + time.Millisecond + 5, 48*time.Hour + time.Millisecond},
		{1 << 62, raMax * time.Millisecond},
	} {
		for _, c := range []Class{Retryable, Permanent, Rejected, Quota, Canceled} {
			w := packOutcome(Outcome{Class: c, RetryAfter: tc.in})
			assert.Zero(t, w&^outMask, "the seq bits are left alone")
			assert.Equal(t, Outcome{Class: c, RetryAfter: tc.want}, unpackOutcome(w), "%v %v", c, tc.in)
		}
	}
}

// A report is taken only by the call it was made for, also when seq wraps
// around.
func TestReportBelongsToItsCall(t *testing.T) {
	p := NewPolicy("llm")
	st, seq, kept := p.claim(context.Background())
	assert.True(t, kept)
	assert.Equal(t, uint64(0), seq)
	st.report(seq, Outcome{Class: Quota})
	st.release()
	st.report(seq, Outcome{Class: Retryable}) // late: the call is over
	_, seq2, _ := p.claim(context.Background())
	assert.Equal(t, uint64(2), seq2)
	_, ok := st.take(seq2)
	assert.False(t, ok, "the earlier call's report is not the later one's")
	st.report(seq2, Outcome{Class: Rejected, RetryAfter: time.Second})
	o, ok := st.take(seq2)
	assert.True(t, ok)
	assert.Equal(t, Outcome{Class: Rejected, RetryAfter: time.Second}, o)
	_, ok = st.take(seq2)
	assert.False(t, ok, "taken once")
	st.release()

	st.word.Store(uint64(1<<seqBits-1) << seqShift) // idle, at the last seq
	_, seq3, _ := p.claim(context.Background())
	assert.Equal(t, uint64(0), seq3)
	st.report(seq3, Outcome{Class: Permanent})
	o, ok = st.take(seq3)
	assert.True(t, ok)
	assert.Equal(t, Permanent, o.Class)
	st.release()
}
