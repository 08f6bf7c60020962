package awsfake

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The fake also speaks Amazon SQS's JSON protocol (X-Amz-Target:
// AmazonSQS.<Operation>, application/x-amz-json-1.0) on the same server:
// CreateQueue, GetQueueUrl, SendMessage, ReceiveMessage (long polling with
// WaitTimeSeconds, visibility timeout, ApproximateReceiveCount),
// DeleteMessage and ChangeMessageVisibility. Faults and call counters work
// for SQS operations as for Secrets Manager's.
//
// It stands in for EventBridge too: [Server.RouteEvents] makes a queue a
// target of the rule that matches Secrets Manager's native "Secret Label
// Updated" events, which the fake then sends whenever a staging label other
// than AWSPENDING and AWSPREVIOUS moves to a new version, as AWS does.

type queue struct {
	name, url string
	msgs      []*message
	routed    bool
	sns       bool // deliver routed events in an SNS envelope
}

type message struct {
	id, body, receipt string
	visibleAt         time.Time
	receives          int
	sent              time.Time
}

const sqsAccount = "123456789012"

// CreateQueue creates a queue (or returns the existing one) and returns its
// URL.
func (s *Server) CreateQueue(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createQueue(name).url
}

func (s *Server) createQueue(name string) *queue {
	if q := s.queues[name]; q != nil {
		return q
	}
	q := &queue{name: name, url: s.URL + "/" + sqsAccount + "/" + name}
	s.queues[name] = q
	return q
}

// RouteEvents makes the queue at queueURL a target of an EventBridge rule
// matching {"source": ["aws.secretsmanager"], "detail-type": ["Secret Label
// Updated"]}. With viaSNS the events arrive as an SNS topic subscribed by
// the queue delivers them without raw message delivery: inside an SNS
// envelope.
func (s *Server) RouteEvents(queueURL string, viaSNS bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queueByURL(queueURL); q != nil {
		q.routed, q.sns = true, viaSNS
	}
}

// SendRaw puts body on the queue as it is, as any producer could: tests use
// it for malformed or foreign messages.
func (s *Server) SendRaw(queueURL, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queueByURL(queueURL); q != nil {
		s.enqueue(q, body)
	}
}

// QueueDepth returns how many messages of the queue are not deleted yet,
// visible or in flight.
func (s *Server) QueueDepth(queueURL string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queueByURL(queueURL); q != nil {
		return len(q.msgs)
	}
	return 0
}

func (s *Server) queueByURL(u string) *queue {
	for _, q := range s.queues {
		if q.url == u {
			return q
		}
	}
	return nil
}

func (s *Server) enqueue(q *queue, body string) {
	s.seq++
	q.msgs = append(q.msgs, &message{id: fmt.Sprintf("fake-msg-%08d", s.seq), body: body, sent: s.now()})
	s.wake()
}

// wake tells long polls waiting for a message to look again.
func (s *Server) wake() {
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// labelUpdated sends the native event for label moving to v to every
// routed queue.
func (s *Server) labelUpdated(sec *secret, label string, v *version) {
	if label == "AWSPENDING" || label == "AWSPREVIOUS" {
		return
	}
	s.seq++
	ev := map[string]any{
		"version": "0", "id": fmt.Sprintf("fake-event-%08d", s.seq),
		"detail-type": "Secret Label Updated", "source": "aws.secretsmanager",
		"account": sqsAccount, "time": s.now().UTC().Format(time.RFC3339), "region": "us-east-1",
		"resources": []string{sec.arn},
		"detail":    map[string]string{"name": sec.name, "labelUpdated": label, "versionId": v.id},
	}
	body, _ := json.Marshal(ev)
	for _, q := range s.queues {
		if !q.routed {
			continue
		}
		if q.sns {
			env, _ := json.Marshal(map[string]string{
				"Type": "Notification", "MessageId": fmt.Sprintf("fake-sns-%08d", s.seq),
				"TopicArn": "arn:aws:sns:us-east-1:" + sqsAccount + ":secret-events", "Message": string(body),
				"Timestamp": s.now().UTC().Format(time.RFC3339),
			})
			s.enqueue(q, string(env))
			continue
		}
		s.enqueue(q, string(body))
	}
}

func sqsErr(code, msg string) *apiError {
	return &apiError{status: 400, code: "com.amazonaws.sqs#" + code, msg: msg}
}

// serveSQS answers one SQS call. Long polls wait without holding s.mu.
func (s *Server) serveSQS(w http.ResponseWriter, r *http.Request, op string, in map[string]json.RawMessage) {
	var out any
	var aerr *apiError
	if op == "ReceiveMessage" {
		out, aerr = s.receive(r, in)
	} else {
		s.mu.Lock()
		out, aerr = s.sqsDispatch(op, in)
		s.mu.Unlock()
	}
	if aerr != nil {
		w.Header().Set("X-Amzn-Query-Error", strings.TrimPrefix(aerr.code, "com.amazonaws.sqs#")+";Sender")
		writeErr(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) sqsDispatch(op string, in map[string]json.RawMessage) (any, *apiError) {
	switch op {
	case "CreateQueue":
		return map[string]string{"QueueUrl": s.createQueue(str(in, "QueueName")).url}, nil
	case "GetQueueUrl":
		q := s.queues[str(in, "QueueName")]
		if q == nil {
			return nil, sqsErr("QueueDoesNotExist", "The specified queue does not exist.")
		}
		return map[string]string{"QueueUrl": q.url}, nil
	case "SendMessage":
		q := s.queueByURL(str(in, "QueueUrl"))
		if q == nil {
			return nil, sqsErr("QueueDoesNotExist", "The specified queue does not exist.")
		}
		body := str(in, "MessageBody")
		s.enqueue(q, body)
		m := q.msgs[len(q.msgs)-1]
		return map[string]string{"MessageId": m.id, "MD5OfMessageBody": md5hex(body)}, nil
	case "DeleteMessage":
		q := s.queueByURL(str(in, "QueueUrl"))
		if q == nil {
			return nil, sqsErr("QueueDoesNotExist", "The specified queue does not exist.")
		}
		rh := str(in, "ReceiptHandle")
		for i, m := range q.msgs {
			if m.receipt != "" && m.receipt == rh {
				q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
				return map[string]any{}, nil
			}
		}
		return nil, sqsErr("ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
	case "ChangeMessageVisibility":
		q := s.queueByURL(str(in, "QueueUrl"))
		if q == nil {
			return nil, sqsErr("QueueDoesNotExist", "The specified queue does not exist.")
		}
		var vt int
		_ = json.Unmarshal(in["VisibilityTimeout"], &vt)
		for _, m := range q.msgs {
			if m.receipt != "" && m.receipt == str(in, "ReceiptHandle") {
				m.visibleAt = s.now().Add(time.Duration(vt) * time.Second)
				s.wake()
				return map[string]any{}, nil
			}
		}
		return nil, sqsErr("ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
	}
	return nil, sqsErr("UnsupportedOperation", "operation "+op+" is not implemented by the fake")
}

// receive implements ReceiveMessage with long polling: it waits up to
// WaitTimeSeconds of real time for a visible message, or until the
// caller goes away.
func (s *Server) receive(r *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	var max, wait int
	vt := -1
	_ = json.Unmarshal(in["MaxNumberOfMessages"], &max)
	_ = json.Unmarshal(in["WaitTimeSeconds"], &wait)
	if raw, ok := in["VisibilityTimeout"]; ok {
		_ = json.Unmarshal(raw, &vt)
	}
	if max <= 0 {
		max = 1
	}
	if max > 10 || wait > 20 {
		return nil, sqsErr("InvalidParameterValue", "MaxNumberOfMessages must be 1-10 and WaitTimeSeconds 0-20.")
	}
	if vt < 0 {
		vt = 30
	}
	deadline := time.NewTimer(time.Duration(wait) * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		q := s.queueByURL(str(in, "QueueUrl"))
		if q == nil {
			s.mu.Unlock()
			return nil, sqsErr("QueueDoesNotExist", "The specified queue does not exist.")
		}
		now := s.now()
		var got []map[string]any
		for _, m := range q.msgs {
			if len(got) == max {
				break
			}
			if m.visibleAt.After(now) {
				continue
			}
			s.seq++
			m.receives++
			m.receipt = fmt.Sprintf("fake-receipt-%s-%d", m.id, s.seq)
			m.visibleAt = now.Add(time.Duration(vt) * time.Second)
			got = append(got, map[string]any{
				"MessageId": m.id, "ReceiptHandle": m.receipt, "Body": m.body, "MD5OfBody": md5hex(m.body),
				"Attributes": map[string]string{
					"ApproximateReceiveCount": strconv.Itoa(m.receives),
					"SentTimestamp":           strconv.FormatInt(m.sent.UnixMilli(), 10),
				},
			})
		}
		arrived := s.arrived
		s.mu.Unlock()
		if len(got) > 0 || wait == 0 {
			return map[string]any{"Messages": got}, nil
		}
		select {
		case <-arrived:
		case <-deadline.C:
			return map[string]any{"Messages": []any{}}, nil
		case <-r.Context().Done():
			return map[string]any{"Messages": []any{}}, nil
		}
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
