// Package awsfake is an in-process fake of AWS Secrets Manager that speaks
// its wire protocol (JSON 1.1 over HTTP, X-Amz-Target:
// secretsmanager.<Operation>), so the real *secretsmanager.Client can be
// tested against it through BaseEndpoint, with signed requests.
//
// It implements CreateSecret, GetSecretValue, DescribeSecret, ListSecrets
// (name filters with AWS's prefix semantics, pagination), BatchGetSecretValue,
// PutSecretValue, UpdateSecretVersionStage, ListSecretVersionIds,
// TagResource and DeleteSecret, and SQS with EventBridge's delivery of
// Secrets Manager's change events (sqs.go), with versions and staging labels behaving as
// AWS documents them: a new AWSCURRENT moves the old one to AWSPREVIOUS.
// Errors have AWS's shapes. Faults (throttling, 500, latency, AccessDenied)
// can be injected per operation, and every operation's calls are counted.
package awsfake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is the fake. Create it with New; Close it when done.
type Server struct {
	*httptest.Server

	mu      sync.Mutex
	secrets map[string]*secret // by name
	order   []string           // names in creation order
	faults  map[string]*Fault
	denied  map[string]bool // secret names whose reads are denied
	calls   map[string]int
	seq     int
	now     func() time.Time
	queues  map[string]*queue // SQS, by name
	arrived chan struct{}     // closed when a message may have become visible
}

type secret struct {
	name     string
	arn      string
	versions map[string]*version
	tags     map[string]string
	created  time.Time
	deleted  time.Time
	rotation bool
	lastRot  time.Time
	nextRot  time.Time
}

type version struct {
	id      string
	str     *string
	bin     []byte
	created time.Time
	stages  map[string]bool
}

// Fault is an injected failure of one operation.
type Fault struct {
	// Code is the AWS error code ("ThrottlingException",
	// "AccessDeniedException", "InternalServiceError"); Status its HTTP
	// status (400 when zero). An empty Code injects only Latency.
	Code   string
	Status int
	// Latency delays the answer.
	Latency time.Duration
	// Times limits the fault to the next n calls; 0 means every call.
	Times int
}

// New starts a fake server.
func New() *Server {
	s := &Server{
		secrets: map[string]*secret{}, faults: map[string]*Fault{}, denied: map[string]bool{},
		calls: map[string]int{}, now: time.Now, queues: map[string]*queue{}, arrived: make(chan struct{}),
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetClock replaces the time source of creation and rotation dates.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

// SetFault injects f into every call of op (a Secrets Manager operation
// name, or "*" for all) until cleared with a nil f.
func (s *Server) SetFault(op string, f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == nil {
		delete(s.faults, op)
		return
	}
	cp := *f
	s.faults[op] = &cp
}

// Deny makes reads of the named secret fail with AccessDeniedException.
func (s *Server) Deny(name string) {
	s.mu.Lock()
	s.denied[name] = true
	s.mu.Unlock()
}

// Calls returns how many times op was called (faulted calls included).
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// TotalCalls returns the number of calls of every operation.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// ResetCalls zeroes the counters.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	s.calls = map[string]int{}
	s.mu.Unlock()
}

// SetRotation sets the rotation facts DescribeSecret and ListSecrets report.
func (s *Server) SetRotation(name string, enabled bool, last, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secrets[name]; sec != nil {
		sec.rotation, sec.lastRot, sec.nextRot = enabled, last, next
	}
}

// apiError is an AWS error response.
type apiError struct {
	status int
	code   string
	msg    string
}

func errf(code, format string, args ...any) *apiError {
	return &apiError{status: 400, code: code, msg: fmt.Sprintf(format, args...)}
}

func notFound() *apiError {
	return errf("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "secretsmanager.")
	sqsOp, isSQS := strings.CutPrefix(target, "AmazonSQS.")
	if isSQS {
		op, ok = sqsOp, true
	}
	if r.Method != http.MethodPost || !ok {
		writeErr(w, errf("UnknownOperationException", "unknown operation"))
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeErr(w, errf("MissingAuthenticationTokenException", "Request is missing Authentication Token"))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeErr(w, errf("SerializationException", "cannot read body"))
		return
	}
	s.mu.Lock()
	s.calls[op]++
	f := s.faults[op]
	if f == nil {
		f = s.faults["*"]
	}
	var fault Fault
	if f != nil {
		fault = *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				delete(s.faults, op)
				delete(s.faults, "*")
			}
		}
	}
	s.mu.Unlock()
	if fault.Latency > 0 {
		select {
		case <-time.After(fault.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if fault.Code != "" {
		st := fault.Status
		if st == 0 {
			st = 400
		}
		writeErr(w, &apiError{status: st, code: fault.Code, msg: "injected fault"})
		return
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		writeErr(w, errf("SerializationException", "body is not JSON"))
		return
	}
	if isSQS {
		s.serveSQS(w, r, op, in)
		return
	}
	s.mu.Lock()
	out, aerr := s.dispatch(op, in)
	s.mu.Unlock()
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", strconv.Itoa(int(time.Now().UnixNano())))
	_ = json.NewEncoder(w).Encode(out)
}

func writeErr(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", e.code)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "message": e.msg})
}

func str(in map[string]json.RawMessage, k string) string {
	var v string
	if raw, ok := in[k]; ok {
		_ = json.Unmarshal(raw, &v)
	}
	return v
}

func epoch(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return float64(t.UnixNano()) / 1e9
}

func (s *Server) dispatch(op string, in map[string]json.RawMessage) (any, *apiError) {
	switch op {
	case "CreateSecret":
		return s.create(in)
	case "GetSecretValue":
		return s.getValue(in)
	case "DescribeSecret":
		return s.describe(in)
	case "ListSecrets":
		return s.list(in)
	case "BatchGetSecretValue":
		return s.batchGet(in)
	case "PutSecretValue":
		return s.put(in)
	case "UpdateSecretVersionStage":
		return s.updateStage(in)
	case "ListSecretVersionIds":
		return s.listVersions(in)
	case "TagResource":
		return s.tag(in)
	case "DeleteSecret":
		return s.delete(in)
	case "RestoreSecret":
		return s.restore(in)
	}
	return nil, errf("UnknownOperationException", "operation %s is not implemented by the fake", op)
}

// find resolves a SecretId (name or ARN, full or partial).
func (s *Server) find(id string) *secret {
	if sec, ok := s.secrets[id]; ok {
		return sec
	}
	for _, sec := range s.secrets {
		if sec.arn == id || strings.HasPrefix(sec.arn, id+"-") {
			return sec
		}
	}
	return nil
}

func (s *Server) newVersionID(token string) string {
	if token != "" {
		return token
	}
	s.seq++
	sum := sha256.Sum256([]byte(strconv.Itoa(s.seq)))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (s *Server) valueOf(in map[string]json.RawMessage) (*string, []byte, *apiError) {
	if raw, ok := in["SecretString"]; ok {
		var v string
		_ = json.Unmarshal(raw, &v)
		return &v, nil, nil
	}
	if raw, ok := in["SecretBinary"]; ok {
		var b64 string
		_ = json.Unmarshal(raw, &b64)
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, nil, errf("InvalidParameterException", "SecretBinary is not base64")
		}
		return nil, b, nil
	}
	return nil, nil, nil
}

func (s *Server) create(in map[string]json.RawMessage) (any, *apiError) {
	name := str(in, "Name")
	if name == "" {
		return nil, errf("InvalidParameterException", "Name is required")
	}
	if _, dup := s.secrets[name]; dup {
		return nil, errf("ResourceExistsException", "The operation failed because the secret %s already exists.", name)
	}
	s.seq++
	suffix := hex.EncodeToString([]byte{byte(s.seq), byte(s.seq >> 8), byte(s.seq >> 16)})
	sec := &secret{
		name: name, arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name + "-" + suffix,
		versions: map[string]*version{}, tags: map[string]string{}, created: s.now(),
	}
	var tags []struct{ Key, Value string }
	if raw, ok := in["Tags"]; ok {
		_ = json.Unmarshal(raw, &tags)
	}
	for _, t := range tags {
		sec.tags[t.Key] = t.Value
	}
	sv, bv, aerr := s.valueOf(in)
	if aerr != nil {
		return nil, aerr
	}
	out := map[string]any{"ARN": sec.arn, "Name": name}
	if sv != nil || bv != nil {
		v := &version{id: s.newVersionID(str(in, "ClientRequestToken")), str: sv, bin: bv, created: s.now(), stages: map[string]bool{"AWSCURRENT": true}}
		sec.versions[v.id] = v
		out["VersionId"] = v.id
		defer s.labelUpdated(sec, "AWSCURRENT", v)
	}
	s.secrets[name] = sec
	s.order = append(s.order, name)
	return out, nil
}

func (s *Server) readable(sec *secret) *apiError {
	if s.denied[sec.name] {
		return errf("AccessDeniedException", "User is not authorized to perform: secretsmanager:GetSecretValue on resource: %s", sec.arn)
	}
	if !sec.deleted.IsZero() {
		return errf("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
	}
	return nil
}

// pick returns the version selected by id or stage (AWSCURRENT by default).
func (sec *secret) pick(id, stage string) *version {
	if id != "" {
		v := sec.versions[id]
		if v != nil && stage != "" && !v.stages[stage] {
			return nil
		}
		return v
	}
	if stage == "" {
		stage = "AWSCURRENT"
	}
	for _, v := range sec.versions {
		if v.stages[stage] {
			return v
		}
	}
	return nil
}

func valueEntry(sec *secret, v *version) map[string]any {
	out := map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": stages(v), "CreatedDate": epoch(v.created)}
	if v.str != nil {
		out["SecretString"] = *v.str
	} else {
		out["SecretBinary"] = base64.StdEncoding.EncodeToString(v.bin)
	}
	return out
}

func stages(v *version) []string {
	out := make([]string, 0, len(v.stages))
	for st := range v.stages {
		out = append(out, st)
	}
	sort.Strings(out)
	return out
}

func (s *Server) getValue(in map[string]json.RawMessage) (any, *apiError) {
	sec := s.find(str(in, "SecretId"))
	if sec == nil {
		return nil, notFound()
	}
	if aerr := s.readable(sec); aerr != nil {
		return nil, aerr
	}
	v := sec.pick(str(in, "VersionId"), str(in, "VersionStage"))
	if v == nil {
		return nil, errf("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label or version.")
	}
	return valueEntry(sec, v), nil
}

func versionsToStages(sec *secret) map[string][]string {
	m := map[string][]string{}
	for id, v := range sec.versions {
		if len(v.stages) > 0 {
			m[id] = stages(v)
		}
	}
	return m
}

func (s *Server) metaOf(sec *secret) map[string]any {
	out := map[string]any{"ARN": sec.arn, "Name": sec.name, "CreatedDate": epoch(sec.created), "RotationEnabled": sec.rotation}
	if d := epoch(sec.deleted); d != nil {
		out["DeletedDate"] = d
	}
	if d := epoch(sec.lastRot); d != nil {
		out["LastRotatedDate"] = d
	}
	if d := epoch(sec.nextRot); d != nil {
		out["NextRotationDate"] = d
	}
	var tags []map[string]string
	keys := make([]string, 0, len(sec.tags))
	for k := range sec.tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		tags = append(tags, map[string]string{"Key": k, "Value": sec.tags[k]})
	}
	if len(tags) > 0 {
		out["Tags"] = tags
	}
	return out
}

func (s *Server) describe(in map[string]json.RawMessage) (any, *apiError) {
	sec := s.find(str(in, "SecretId"))
	if sec == nil {
		return nil, notFound()
	}
	out := s.metaOf(sec)
	out["VersionIdsToStages"] = versionsToStages(sec)
	return out, nil
}

type filter struct {
	Key    string
	Values []string
}

// matches applies ListSecrets filters: each filter's values are ORed,
// filters are ANDed; "name" is a case-sensitive prefix match, a value
// starting with "!" negates.
func matches(sec *secret, filters []filter) bool {
	for _, f := range filters {
		var field string
		switch f.Key {
		case "name":
			field = sec.name
		case "all":
			field = sec.name
		default:
			continue
		}
		ok := false
		for _, v := range f.Values {
			if neg, found := strings.CutPrefix(v, "!"); found {
				if !strings.HasPrefix(field, neg) {
					ok = true
				}
			} else if strings.HasPrefix(field, v) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (s *Server) page(in map[string]json.RawMessage, max int, items []string) ([]string, string, *apiError) {
	n := max
	if raw, ok := in["MaxResults"]; ok {
		_ = json.Unmarshal(raw, &n)
		if n < 1 || n > max {
			return nil, "", errf("InvalidParameterException", "MaxResults must be between 1 and %d", max)
		}
	}
	start := 0
	if tok := str(in, "NextToken"); tok != "" {
		var err error
		if start, err = strconv.Atoi(tok); err != nil || start > len(items) {
			return nil, "", errf("InvalidNextTokenException", "invalid NextToken")
		}
	}
	end := start + n
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	} else {
		end = len(items)
	}
	return items[start:end], next, nil
}

func (s *Server) list(in map[string]json.RawMessage) (any, *apiError) {
	var filters []filter
	if raw, ok := in["Filters"]; ok {
		_ = json.Unmarshal(raw, &filters)
	}
	for _, f := range filters {
		if len(f.Values) > 10 {
			return nil, errf("InvalidParameterException", "a filter has at most 10 values")
		}
	}
	var includeDeleted bool
	if raw, ok := in["IncludePlannedDeletion"]; ok {
		_ = json.Unmarshal(raw, &includeDeleted)
	}
	var names []string
	for _, n := range s.order {
		sec := s.secrets[n]
		if sec == nil || (!includeDeleted && !sec.deleted.IsZero()) || !matches(sec, filters) {
			continue
		}
		names = append(names, n)
	}
	pg, next, aerr := s.page(in, 100, names)
	if aerr != nil {
		return nil, aerr
	}
	list := []map[string]any{}
	for _, n := range pg {
		sec := s.secrets[n]
		e := s.metaOf(sec)
		e["SecretVersionsToStages"] = versionsToStages(sec)
		list = append(list, e)
	}
	out := map[string]any{"SecretList": list}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Server) batchGet(in map[string]json.RawMessage) (any, *apiError) {
	var ids []string
	if raw, ok := in["SecretIdList"]; ok {
		_ = json.Unmarshal(raw, &ids)
	}
	var filters []filter
	if raw, ok := in["Filters"]; ok {
		_ = json.Unmarshal(raw, &filters)
	}
	if (len(ids) == 0) == (len(filters) == 0) {
		return nil, errf("InvalidParameterException", "give either SecretIdList or Filters")
	}
	if len(ids) > 20 {
		return nil, errf("InvalidParameterException", "SecretIdList has at most 20 items")
	}
	values := []map[string]any{}
	errs := []map[string]string{}
	if len(ids) > 0 {
		for _, id := range ids {
			sec := s.find(id)
			if sec == nil {
				errs = append(errs, map[string]string{"SecretId": id, "ErrorCode": "ResourceNotFoundException", "Message": "Secrets Manager can't find the specified secret."})
				continue
			}
			if aerr := s.readable(sec); aerr != nil {
				errs = append(errs, map[string]string{"SecretId": id, "ErrorCode": aerr.code, "Message": aerr.msg})
				continue
			}
			if v := sec.pick("", "AWSCURRENT"); v != nil {
				values = append(values, valueEntry(sec, v))
			}
		}
		return map[string]any{"SecretValues": values, "Errors": errs}, nil
	}
	var names []string
	for _, n := range s.order {
		if sec := s.secrets[n]; sec != nil && sec.deleted.IsZero() && matches(sec, filters) {
			names = append(names, n)
		}
	}
	pg, next, aerr := s.page(in, 20, names)
	if aerr != nil {
		return nil, aerr
	}
	for _, n := range pg {
		sec := s.secrets[n]
		if v := sec.pick("", "AWSCURRENT"); v != nil && s.readable(sec) == nil {
			values = append(values, valueEntry(sec, v))
		}
	}
	out := map[string]any{"SecretValues": values, "Errors": errs}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

// moveStage gives label to v, taking it from whichever version had it; a
// moved AWSCURRENT turns the old current version into AWSPREVIOUS.
func (sec *secret) moveStage(label string, v *version) {
	var old *version
	for _, x := range sec.versions {
		if x.stages[label] && x != v {
			old = x
			delete(x.stages, label)
		}
	}
	v.stages[label] = true
	if label == "AWSCURRENT" && old != nil {
		for _, x := range sec.versions {
			delete(x.stages, "AWSPREVIOUS")
		}
		old.stages["AWSPREVIOUS"] = true
	}
	// Versions left without a label are deprecated; AWS keeps them for a
	// while, and so does the fake.
}

func (s *Server) put(in map[string]json.RawMessage) (any, *apiError) {
	sec := s.find(str(in, "SecretId"))
	if sec == nil {
		return nil, notFound()
	}
	if !sec.deleted.IsZero() {
		return nil, errf("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
	}
	sv, bv, aerr := s.valueOf(in)
	if aerr != nil {
		return nil, aerr
	}
	if sv == nil && bv == nil {
		return nil, errf("InvalidParameterException", "give SecretString or SecretBinary")
	}
	var labels []string
	if raw, ok := in["VersionStages"]; ok {
		_ = json.Unmarshal(raw, &labels)
	}
	if len(labels) == 0 {
		labels = []string{"AWSCURRENT"}
	}
	v := &version{id: s.newVersionID(str(in, "ClientRequestToken")), str: sv, bin: bv, created: s.now(), stages: map[string]bool{}}
	sec.versions[v.id] = v
	for _, l := range labels {
		sec.moveStage(l, v)
		s.labelUpdated(sec, l, v)
	}
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": stages(v)}, nil
}

func (s *Server) updateStage(in map[string]json.RawMessage) (any, *apiError) {
	sec := s.find(str(in, "SecretId"))
	if sec == nil {
		return nil, notFound()
	}
	label := str(in, "VersionStage")
	to, from := str(in, "MoveToVersionId"), str(in, "RemoveFromVersionId")
	if label == "" {
		return nil, errf("InvalidParameterException", "VersionStage is required")
	}
	if from != "" {
		v := sec.versions[from]
		if v == nil || !v.stages[label] {
			return nil, errf("InvalidParameterException", "The staging label %s is not attached to version %s.", label, from)
		}
		if to == "" {
			if label == "AWSCURRENT" {
				return nil, errf("InvalidParameterException", "You can't remove the staging label AWSCURRENT without moving it.")
			}
			delete(v.stages, label)
		}
	}
	if to != "" {
		v := sec.versions[to]
		if v == nil {
			return nil, notFound()
		}
		for _, x := range sec.versions {
			if x.stages[label] && x.id != from && x != v && label == "AWSCURRENT" {
				return nil, errf("InvalidParameterException", "The staging label AWSCURRENT is attached to version %s; give it as RemoveFromVersionId.", x.id)
			}
		}
		sec.moveStage(label, v)
		s.labelUpdated(sec, label, v)
		if label == "AWSCURRENT" {
			sec.lastRot = s.now()
		}
	}
	return map[string]any{"ARN": sec.arn, "Name": sec.name}, nil
}

func (s *Server) listVersions(in map[string]json.RawMessage) (any, *apiError) {
	sec := s.find(str(in, "SecretId"))
	if sec == nil {
		return nil, notFound()
	}
	ids := make([]string, 0, len(sec.versions))
	for id := range sec.versions {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return sec.versions[ids[i]].created.Before(sec.versions[ids[j]].created) })
	pg, next, aerr := s.page(in, 100, ids)
	if aerr != nil {
		return nil, aerr
	}
	var vs []map[string]any
	for _, id := range pg {
		v := sec.versions[id]
		vs = append(vs, map[string]any{"VersionId": id, "VersionStages": stages(v), "CreatedDate": epoch(v.created)})
	}
	out := map[string]any{"ARN": sec.arn, "Name": sec.name, "Versions": vs}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Server) tag(in map[string]json.RawMessage) (any, *apiError) {
	sec := s.find(str(in, "SecretId"))
	if sec == nil {
		return nil, notFound()
	}
	var tags []struct{ Key, Value string }
	if raw, ok := in["Tags"]; ok {
		_ = json.Unmarshal(raw, &tags)
	}
	for _, t := range tags {
		sec.tags[t.Key] = t.Value
	}
	return map[string]any{}, nil
}

func (s *Server) delete(in map[string]json.RawMessage) (any, *apiError) {
	sec := s.find(str(in, "SecretId"))
	if sec == nil {
		return nil, notFound()
	}
	var force bool
	if raw, ok := in["ForceDeleteWithoutRecovery"]; ok {
		_ = json.Unmarshal(raw, &force)
	}
	now := s.now()
	if force {
		delete(s.secrets, sec.name)
		for i, n := range s.order {
			if n == sec.name {
				s.order = append(s.order[:i], s.order[i+1:]...)
				break
			}
		}
	} else {
		days := 30
		if raw, ok := in["RecoveryWindowInDays"]; ok {
			_ = json.Unmarshal(raw, &days)
		}
		sec.deleted = now.Add(time.Duration(days) * 24 * time.Hour)
	}
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "DeletionDate": epoch(now)}, nil
}

// restore cancels a scheduled deletion (RestoreSecret).
func (s *Server) restore(in map[string]json.RawMessage) (any, *apiError) {
	sec := s.find(str(in, "SecretId"))
	if sec == nil {
		return nil, notFound()
	}
	sec.deleted = time.Time{}
	return map[string]any{"ARN": sec.arn, "Name": sec.name}, nil
}
