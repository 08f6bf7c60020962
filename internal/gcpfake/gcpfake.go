package gcpfake

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"
	smpb "cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Server is the fake. Create it with New; Close it when done.
type Server struct {
	smpb.UnimplementedSecretManagerServiceServer

	// Addr is the host:port the gRPC server listens on.
	Addr string
	// PubSub is the official Pub/Sub fake that receives the notifications
	// of secrets with topics.
	PubSub *pstest.Server

	gs *grpc.Server
	ln net.Listener

	mu      sync.Mutex
	secrets map[string]*secret // by full name
	order   []string
	faults  map[string]*Fault
	denied  map[string]bool // secret names whose reads are denied
	calls   map[string]int
	now     func() time.Time
	closed  bool
}

type secret struct {
	pb       *smpb.Secret
	versions []*version // by number - 1
}

type version struct {
	pb   *smpb.SecretVersion
	data []byte
	crc  int64
}

// Fault is an injected failure of one method.
type Fault struct {
	// Code is the gRPC status code returned (codes.OK injects only
	// Latency); Message its message.
	Code    codes.Code
	Message string
	// Latency delays the answer (or the failure), up to the call's
	// deadline.
	Latency time.Duration
	// Times limits the fault to the next n calls; 0 means every call.
	Times int
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C returns the checksum the service computes for data.
func CRC32C(data []byte) int64 { return int64(crc32.Checksum(data, castagnoli)) }

// New starts a fake Secret Manager on a loopback port, and a pstest Pub/Sub
// server for its notifications.
func New() *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("gcpfake: " + err.Error())
	}
	s := &Server{
		Addr: ln.Addr().String(), ln: ln, gs: grpc.NewServer(),
		secrets: map[string]*secret{}, faults: map[string]*Fault{}, denied: map[string]bool{}, calls: map[string]int{},
		now:    time.Now,
		PubSub: pstest.NewServer(),
	}
	smpb.RegisterSecretManagerServiceServer(s.gs, s)
	go s.gs.Serve(ln)
	return s
}

// Close stops both servers. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.gs.Stop()
	s.PubSub.Close()
}

// SetNow sets the fake's clock (default time.Now).
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

// SetFault injects f into every call of method ("AccessSecretVersion",
// "GetSecret"...); nil removes it.
func (s *Server) SetFault(method string, f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == nil {
		delete(s.faults, method)
		return
	}
	cp := *f
	s.faults[method] = &cp
}

// Deny makes every read of the secret (its full name, or a ref or version
// name under it) fail with PermissionDenied, as an IAM policy without
// secretmanager.versions.access would.
func (s *Server) Deny(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[secretOf(name)] = true
}

// Calls returns how many calls of method reached the server since the
// last ResetCalls.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// TotalCalls returns the calls of every method since the last ResetCalls.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// CallCounts returns a copy of the per-method call counters.
func (s *Server) CallCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// ResetCalls zeroes the call counters.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
}

// CorruptPayload flips a bit of the stored data of a version (its full
// name) without changing its checksum, as corruption between the service's
// storage and the client would.
func (s *Server) CorruptPayload(versionName string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.versionLocked(versionName, false)
	if err != nil {
		return err
	}
	if len(v.data) > 0 {
		d := append([]byte(nil), v.data...)
		d[0] ^= 0x01
		v.data = d
	}
	return nil
}

// Rotate publishes the SECRET_ROTATE event of a secret to its topics, as
// the service does at the secret's next_rotation_time.
func (s *Server) Rotate(name string) error {
	s.mu.Lock()
	sec, ok := s.secrets[name]
	if !ok {
		s.mu.Unlock()
		return status.Errorf(codes.NotFound, "Secret [%s] not found.", name)
	}
	ev := s.eventLocked("SECRET_ROTATE", sec, nil)
	s.mu.Unlock()
	s.publish(ev)
	return nil
}

// enter counts a call of method and applies its fault.
func (s *Server) enter(ctx context.Context, method string) error {
	s.mu.Lock()
	s.calls[method]++
	f := s.faults[method]
	var fault Fault
	if f != nil {
		fault = *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				delete(s.faults, method)
			}
		}
	}
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	if fault.Latency > 0 {
		t := time.NewTimer(fault.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	if fault.Code != codes.OK {
		msg := fault.Message
		if msg == "" {
			msg = "injected " + fault.Code.String()
		}
		return status.Error(fault.Code, msg)
	}
	return nil
}

// secretOf returns the secret's full name within a secret or version name.
func secretOf(name string) string {
	if i := strings.Index(name, "/versions/"); i >= 0 {
		return name[:i]
	}
	if i := strings.IndexByte(name, '#'); i >= 0 {
		return name[:i]
	}
	return name
}

// validSecretName reports whether name is projects/P/secrets/S or
// projects/P/locations/L/secrets/S.
func validSecretName(name string) bool {
	p := strings.Split(name, "/")
	switch len(p) {
	case 4:
		return p[0] == "projects" && p[1] != "" && p[2] == "secrets" && validID(p[3])
	case 6:
		return p[0] == "projects" && p[1] != "" && p[2] == "locations" && p[3] != "" && p[4] == "secrets" && validID(p[5])
	}
	return false
}

// validID reports whether id is a valid secret id: [a-zA-Z0-9_-]{1,255}.
func validID(id string) bool {
	if id == "" || len(id) > 255 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (s *Server) readSecretLocked(name string) (*secret, error) {
	if !validSecretName(name) {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid resource field value in the request.")
	}
	if s.denied[name] {
		return nil, status.Errorf(codes.PermissionDenied, "Permission 'secretmanager.versions.access' denied for resource '%s' (or it may not exist).", name)
	}
	sec, ok := s.secrets[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", name)
	}
	return sec, nil
}

// versionLocked resolves a version name: a number, "latest" or an alias.
func (s *Server) versionLocked(name string, read bool) (*version, error) {
	i := strings.Index(name, "/versions/")
	if i < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid resource field value in the request.")
	}
	secName, ref := name[:i], name[i+len("/versions/"):]
	var sec *secret
	var err error
	if read {
		sec, err = s.readSecretLocked(secName)
	} else {
		if !validSecretName(secName) {
			return nil, status.Errorf(codes.InvalidArgument, "Invalid resource field value in the request.")
		}
		var ok bool
		if sec, ok = s.secrets[secName]; !ok {
			err = status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", secName)
		}
	}
	if err != nil {
		return nil, err
	}
	var n int64
	switch {
	case ref == "latest":
		n = int64(len(sec.versions))
		if n == 0 {
			return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", secName)
		}
	case ref == "":
		return nil, status.Errorf(codes.InvalidArgument, "Invalid resource field value in the request.")
	default:
		if num, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
			n = num
		} else if a, ok := sec.pb.VersionAliases[ref]; ok {
			n = a
		} else {
			return nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found.", name)
		}
	}
	if n < 1 || n > int64(len(sec.versions)) {
		return nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found.", name)
	}
	return sec.versions[n-1], nil
}

// event is a notification to publish.
type event struct {
	topics []string
	data   []byte
	attrs  map[string]string
}

func (s *Server) eventLocked(kind string, sec *secret, v *version) *event {
	if len(sec.pb.Topics) == 0 {
		return nil
	}
	ev := &event{attrs: map[string]string{
		"eventType":  kind,
		"secretId":   sec.pb.Name,
		"dataFormat": "JSON_API_V1",
		"timestamp":  s.now().UTC().Format(time.RFC3339Nano),
	}}
	var msg proto.Message = sec.pb
	if v != nil {
		ev.attrs["versionId"] = v.pb.Name
		msg = v.pb
	}
	ev.data, _ = protojson.Marshal(msg)
	for _, t := range sec.pb.Topics {
		ev.topics = append(ev.topics, t.Name)
	}
	return ev
}

// publish sends ev to its topics, outside s.mu.
func (s *Server) publish(ev *event) {
	if ev == nil {
		return
	}
	for _, t := range ev.topics {
		s.PubSub.Publish(t, ev.data, ev.attrs)
	}
}

func clone[M proto.Message](m M) M { return proto.Clone(m).(M) }

// CreateSecret implements the RPC.
func (s *Server) CreateSecret(ctx context.Context, req *smpb.CreateSecretRequest) (*smpb.Secret, error) {
	if err := s.enter(ctx, "CreateSecret"); err != nil {
		return nil, err
	}
	name := req.GetParent() + "/secrets/" + req.GetSecretId()
	if !validSecretName(name) {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid resource field value in the request.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.secrets[name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Secret [%s] already exists.", name)
	}
	pb := clone(req.GetSecret())
	if pb == nil {
		pb = &smpb.Secret{}
	}
	pb.Name = name
	pb.CreateTime = timestamppb.New(s.now())
	pb.Etag = `"1"`
	if r := pb.GetRotation(); r != nil {
		r.RotationPeriod = nil // input only
	}
	s.secrets[name] = &secret{pb: pb}
	s.order = append(s.order, name)
	return clone(pb), nil
}

// GetSecret implements the RPC.
func (s *Server) GetSecret(ctx context.Context, req *smpb.GetSecretRequest) (*smpb.Secret, error) {
	if err := s.enter(ctx, "GetSecret"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.readSecretLocked(req.GetName())
	if err != nil {
		return nil, err
	}
	return clone(sec.pb), nil
}

// UpdateSecret implements the RPC for the paths labels, annotations,
// version_aliases, topics, rotation and expire_time.
func (s *Server) UpdateSecret(ctx context.Context, req *smpb.UpdateSecretRequest) (*smpb.Secret, error) {
	if err := s.enter(ctx, "UpdateSecret"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := req.GetSecret()
	sec, ok := s.secrets[in.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found.", in.GetName())
	}
	for _, p := range req.GetUpdateMask().GetPaths() {
		switch p {
		case "labels":
			sec.pb.Labels = in.Labels
		case "annotations":
			sec.pb.Annotations = in.Annotations
		case "version_aliases":
			for _, n := range in.VersionAliases {
				if n < 1 || n > int64(len(sec.versions)) {
					return nil, status.Errorf(codes.InvalidArgument, "Version alias points to a version that does not exist.")
				}
			}
			sec.pb.VersionAliases = in.VersionAliases
		case "topics":
			sec.pb.Topics = in.Topics
		case "rotation":
			sec.pb.Rotation = clone(in.Rotation)
			if sec.pb.Rotation != nil {
				sec.pb.Rotation.RotationPeriod = nil
			}
		case "expire_time":
			sec.pb.Expiration = in.Expiration
		default:
			return nil, status.Errorf(codes.InvalidArgument, "Unsupported update mask path %q.", p)
		}
	}
	return clone(sec.pb), nil
}

// DeleteSecret implements the RPC.
func (s *Server) DeleteSecret(ctx context.Context, req *smpb.DeleteSecretRequest) (*emptypb.Empty, error) {
	if err := s.enter(ctx, "DeleteSecret"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.secrets[req.GetName()]; !ok {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found.", req.GetName())
	}
	delete(s.secrets, req.GetName())
	for i, n := range s.order {
		if n == req.GetName() {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	return &emptypb.Empty{}, nil
}

// ListSecrets implements the RPC (no filter, no pagination beyond one
// page of up to 25,000).
func (s *Server) ListSecrets(ctx context.Context, req *smpb.ListSecretsRequest) (*smpb.ListSecretsResponse, error) {
	if err := s.enter(ctx, "ListSecrets"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &smpb.ListSecretsResponse{}
	for _, n := range s.order {
		if strings.HasPrefix(n, req.GetParent()+"/secrets/") {
			out.Secrets = append(out.Secrets, clone(s.secrets[n].pb))
		}
	}
	out.TotalSize = int32(len(out.Secrets))
	return out, nil
}

// AddSecretVersion implements the RPC, checking a client-specified CRC32C.
func (s *Server) AddSecretVersion(ctx context.Context, req *smpb.AddSecretVersionRequest) (*smpb.SecretVersion, error) {
	if err := s.enter(ctx, "AddSecretVersion"); err != nil {
		return nil, err
	}
	data := req.GetPayload().GetData()
	if len(data) > 64*1024 {
		return nil, status.Errorf(codes.InvalidArgument, "Secret payload data cannot be larger than 64KiB.")
	}
	crc := CRC32C(data)
	if c := req.GetPayload().DataCrc32C; c != nil && *c != crc {
		return nil, status.Errorf(codes.DataLoss, "Checksum mismatch.")
	}
	s.mu.Lock()
	sec, ok := s.secrets[req.GetParent()]
	if !ok {
		s.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found.", req.GetParent())
	}
	n := len(sec.versions) + 1
	v := &version{
		pb: &smpb.SecretVersion{
			Name: fmt.Sprintf("%s/versions/%d", sec.pb.Name, n), CreateTime: timestamppb.New(s.now()),
			State: smpb.SecretVersion_ENABLED, Etag: `"1"`, ClientSpecifiedPayloadChecksum: req.GetPayload().DataCrc32C != nil,
		},
		data: append([]byte(nil), data...), crc: crc,
	}
	sec.versions = append(sec.versions, v)
	ev := s.eventLocked("SECRET_VERSION_ADD", sec, v)
	out := clone(v.pb)
	s.mu.Unlock()
	s.publish(ev)
	return out, nil
}

// GetSecretVersion implements the RPC.
func (s *Server) GetSecretVersion(ctx context.Context, req *smpb.GetSecretVersionRequest) (*smpb.SecretVersion, error) {
	if err := s.enter(ctx, "GetSecretVersion"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.versionLocked(req.GetName(), true)
	if err != nil {
		return nil, err
	}
	return clone(v.pb), nil
}

// AccessSecretVersion implements the RPC.
func (s *Server) AccessSecretVersion(ctx context.Context, req *smpb.AccessSecretVersionRequest) (*smpb.AccessSecretVersionResponse, error) {
	if err := s.enter(ctx, "AccessSecretVersion"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.versionLocked(req.GetName(), true)
	if err != nil {
		return nil, err
	}
	if st := v.pb.State; st != smpb.SecretVersion_ENABLED {
		return nil, status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is in %s state.", v.pb.Name, st)
	}
	crc := v.crc
	return &smpb.AccessSecretVersionResponse{
		Name:    v.pb.Name,
		Payload: &smpb.SecretPayload{Data: append([]byte(nil), v.data...), DataCrc32C: &crc},
	}, nil
}

// ListSecretVersions implements the RPC, newest first, with the filters
// "" and "state:ENABLED" (or DISABLED, DESTROYED) and pagination.
func (s *Server) ListSecretVersions(ctx context.Context, req *smpb.ListSecretVersionsRequest) (*smpb.ListSecretVersionsResponse, error) {
	if err := s.enter(ctx, "ListSecretVersions"); err != nil {
		return nil, err
	}
	var want smpb.SecretVersion_State
	if f := strings.TrimSpace(req.GetFilter()); f != "" {
		st, ok := strings.CutPrefix(f, "state:")
		v, known := smpb.SecretVersion_State_value[strings.ToUpper(st)]
		if !ok || !known {
			return nil, status.Errorf(codes.InvalidArgument, "Unsupported filter.")
		}
		want = smpb.SecretVersion_State(v)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.readSecretLocked(req.GetParent())
	if err != nil {
		return nil, err
	}
	var all []*smpb.SecretVersion
	for i := len(sec.versions) - 1; i >= 0; i-- {
		if want == 0 || sec.versions[i].pb.State == want {
			all = append(all, clone(sec.versions[i].pb))
		}
	}
	start := 0
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > len(all) {
			return nil, status.Errorf(codes.InvalidArgument, "Invalid page token.")
		}
		start = n
	}
	size := int(req.GetPageSize())
	if size <= 0 || size > 25000 {
		size = 25000
	}
	end := min(start+size, len(all))
	out := &smpb.ListSecretVersionsResponse{Versions: all[start:end], TotalSize: int32(len(all))}
	if end < len(all) {
		out.NextPageToken = strconv.Itoa(end)
	}
	return out, nil
}

func (s *Server) setState(ctx context.Context, method, name string, to smpb.SecretVersion_State, kind string) (*smpb.SecretVersion, error) {
	if err := s.enter(ctx, method); err != nil {
		return nil, err
	}
	s.mu.Lock()
	v, err := s.versionLocked(name, false)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if v.pb.State == smpb.SecretVersion_DESTROYED {
		s.mu.Unlock()
		return nil, status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is in DESTROYED state.", v.pb.Name)
	}
	v.pb.State = to
	if to == smpb.SecretVersion_DESTROYED {
		v.data = nil
		v.pb.DestroyTime = timestamppb.New(s.now())
		sec := s.secrets[secretOf(v.pb.Name)]
		for a, n := range sec.pb.VersionAliases {
			if fmt.Sprintf("%s/versions/%d", sec.pb.Name, n) == v.pb.Name {
				delete(sec.pb.VersionAliases, a)
			}
		}
	}
	ev := s.eventLocked(kind, s.secrets[secretOf(v.pb.Name)], v)
	out := clone(v.pb)
	s.mu.Unlock()
	s.publish(ev)
	return out, nil
}

// EnableSecretVersion implements the RPC.
func (s *Server) EnableSecretVersion(ctx context.Context, req *smpb.EnableSecretVersionRequest) (*smpb.SecretVersion, error) {
	return s.setState(ctx, "EnableSecretVersion", req.GetName(), smpb.SecretVersion_ENABLED, "SECRET_VERSION_ENABLE")
}

// DisableSecretVersion implements the RPC.
func (s *Server) DisableSecretVersion(ctx context.Context, req *smpb.DisableSecretVersionRequest) (*smpb.SecretVersion, error) {
	return s.setState(ctx, "DisableSecretVersion", req.GetName(), smpb.SecretVersion_DISABLED, "SECRET_VERSION_DISABLE")
}

// DestroySecretVersion implements the RPC.
func (s *Server) DestroySecretVersion(ctx context.Context, req *smpb.DestroySecretVersionRequest) (*smpb.SecretVersion, error) {
	return s.setState(ctx, "DestroySecretVersion", req.GetName(), smpb.SecretVersion_DESTROYED, "SECRET_VERSION_DESTROY")
}

// Secrets returns the full names of the stored secrets, sorted.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.order...)
	sort.Strings(out)
	return out
}
