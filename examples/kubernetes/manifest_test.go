package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/credkit/credkit/credential"
	"github.com/credkit/credkit/internal/oauthfake"
	"github.com/credkit/credkit/provider/oauth2"
)

// obj is a decoded manifest document.
type obj map[string]any

// at walks keys (a string is a map key, an int a list index) and returns
// what is there, or nil.
func (o obj) at(path ...any) any {
	var cur any = map[string]any(o)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

func (o obj) str(path ...any) string { s, _ := o.at(path...).(string); return s }

func loadManifests(t *testing.T) map[string][]obj {
	t.Helper()
	b, err := os.ReadFile("deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	byKind := map[string][]obj{}
	for {
		var raw map[string]any // nested maps come as map[string]any
		err := dec.Decode(&raw)
		o := obj(raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("deployment.yaml is not valid YAML: %v", err)
		}
		if o.str("apiVersion") == "" || o.str("metadata", "name") == "" {
			t.Fatalf("a document without apiVersion or metadata.name: %v", o)
		}
		byKind[o.str("kind")] = append(byKind[o.str("kind")], o)
	}
	return byKind
}

// manifest is what the Deployment says the pod has: its environment and,
// per mount path, the volume's files and mode.
type manifest struct {
	env    map[string]string
	mounts map[string]volume // mountPath → volume
	port   int
}

type volume struct {
	name  string
	mode  os.FileMode
	files map[string]string // key → content ("" for a projected token)
	token string            // the projected token's audience, for a projected volume
}

// TestManifests checks that deployment.yaml is valid YAML holding the
// ServiceAccount, the Secrets, the Deployment and the Service, that the
// Deployment mounts the key (Secret, defaultMode 0440, fsGroup) and the
// projected token (OpenAI's audience) where its environment's URLs look,
// and probes /livez and /readyz on the port the program listens on.
func TestManifests(t *testing.T) {
	m := parseManifest(t)
	for _, name := range []string{"MODEL_API_KEY_URL", "HEALTH_TOKEN_URL"} {
		u, err := url.Parse(m.env[name])
		if err != nil || u.Scheme != "file" {
			t.Fatalf("%s is not a file:// URL", name)
		}
		v, ok := m.mounts[filepath.Dir(u.Path+"/x")]
		if !ok || v.files == nil || v.files[u.Fragment] == "" {
			t.Errorf("%s names %s#%s, which no Secret volume mount holds", name, u.Path, u.Fragment)
		}
		if v.mode != 0o440 {
			t.Errorf("%s: the volume's defaultMode is %#o, want 0440", name, v.mode)
		}
	}
	fu, err := url.Parse(m.env["OPENAI_FEDERATION_URL"])
	if err != nil || fu.Scheme != "oauth2" {
		t.Fatalf("OPENAI_FEDERATION_URL is not an oauth2:// URL")
	}
	q := fu.Query()
	subject, _ := strings.CutPrefix(q.Get("subject"), "file://")
	v, ok := m.mounts[filepath.Dir(subject)]
	if !ok || v.token != oauth2.OpenAIAudience || q.Get("preset") != "openai" || q.Get("grant") != "token_exchange" {
		t.Errorf("the federation's subject %s is not a projected token for %s in a mounted volume", subject, oauth2.OpenAIAudience)
	}
	if _, ok := v.files[filepath.Base(subject)]; !ok {
		t.Errorf("the projected volume has no %s", filepath.Base(subject))
	}
}

// parseManifest reads deployment.yaml into what the pod sees.
func parseManifest(t *testing.T) manifest {
	t.Helper()
	k := loadManifests(t)
	for kind, n := range map[string]int{"ServiceAccount": 1, "Secret": 2, "Deployment": 1, "Service": 1} {
		if len(k[kind]) != n {
			t.Fatalf("%d %s documents, want %d", len(k[kind]), kind, n)
		}
	}
	d, svc := k["Deployment"][0], k["Service"][0]
	pod := obj(d.at("spec", "template", "spec").(map[string]any))
	if pod.str("serviceAccountName") != k["ServiceAccount"][0].str("metadata", "name") {
		t.Errorf("the pod does not run as the ServiceAccount of the manifests")
	}
	if pod.at("securityContext", "fsGroup") == nil {
		t.Errorf("no fsGroup: the process could not read 0440 volume files through its group")
	}
	c := obj(pod.at("containers", 0).(map[string]any))
	m := manifest{env: map[string]string{}, mounts: map[string]volume{}}
	for i := 0; c.at("env", i) != nil; i++ {
		m.env[c.str("env", i, "name")] = c.str("env", i, "value")
	}
	if c.str("ports", 0, "name") != "http" || c.str("livenessProbe", "httpGet", "port") != "http" || c.str("readinessProbe", "httpGet", "port") != "http" {
		t.Errorf("the probes do not use the container's http port")
	}
	m.port, _ = c.at("ports", 0, "containerPort").(int)
	if m.env["LISTEN_ADDR"] != ":"+strconv.Itoa(m.port) {
		t.Errorf("LISTEN_ADDR %q is not the container port %d", m.env["LISTEN_ADDR"], m.port)
	}
	if c.str("livenessProbe", "httpGet", "path") != "/livez" || c.str("readinessProbe", "httpGet", "path") != "/readyz" {
		t.Errorf("liveness must probe /livez and readiness /readyz")
	}
	if svc.str("spec", "ports", 0, "targetPort") != "http" || svc.str("spec", "selector", "app") != d.str("spec", "template", "metadata", "labels", "app") {
		t.Errorf("the Service does not select the pods' http port")
	}
	secrets := map[string]map[string]string{}
	for _, s := range k["Secret"] {
		data := map[string]string{}
		for key, val := range s.at("stringData").(map[string]any) {
			data[key], _ = val.(string)
		}
		secrets[s.str("metadata", "name")] = data
	}
	vols := map[string]volume{}
	for i := 0; pod.at("volumes", i) != nil; i++ {
		v := obj(pod.at("volumes", i).(map[string]any))
		vol := volume{name: v.str("name")}
		switch {
		case v.at("secret") != nil:
			mode, _ := v.at("secret", "defaultMode").(int)
			vol.mode, vol.files = os.FileMode(mode), secrets[v.str("secret", "secretName")]
		case v.at("projected") != nil:
			mode, _ := v.at("projected", "defaultMode").(int)
			vol.mode = os.FileMode(mode)
			vol.token = v.str("projected", "sources", 0, "serviceAccountToken", "audience")
			vol.files = map[string]string{v.str("projected", "sources", 0, "serviceAccountToken", "path"): ""}
		}
		vols[vol.name] = vol
	}
	for i := 0; c.at("volumeMounts", i) != nil; i++ {
		m.mounts[c.str("volumeMounts", i, "mountPath")] = vols[c.str("volumeMounts", i, "name")]
	}
	return m
}

// TestDeploymentEnvironment runs the program with the Deployment's own
// environment, its volumes laid out as the kubelet lays them out (under a
// temporary root) with their files' mode, and the upstreams replaced by
// the fakes: the probes answer, /readyz detail shows both credentials
// fresh to the health token of the Secret, and both APIs answer.
func TestDeploymentEnvironment(t *testing.T) {
	m := parseManifest(t)
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	jwt := oauthfake.JWT(oauthfake.Claims{Iss: "https://kubernetes.default.svc", Sub: saSubject, Aud: oauth2.OpenAIAudience,
		Iat: now.Unix(), Exp: now.Add(time.Hour).Unix()})
	var apiKey string
	for mount, v := range m.mounts {
		dir := filepath.Join(root, mount)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		for key, val := range v.files {
			if v.token != "" {
				val = jwt
			}
			files[key] = val
		}
		if v.name == "model-api-key" {
			apiKey = files["api-key"]
		}
		if err := (&KubeletVolume{Dir: dir, Mode: manifestFileMode(v.mode)}).Write(files); err != nil {
			t.Fatal(err)
		}
	}
	fu, _ := url.Parse(m.env["OPENAI_FEDERATION_URL"])
	q := fu.Query()
	tokens := oauthfake.New(nil, time.Hour, oauthfake.Expect{
		Grant: "urn:ietf:params:oauth:grant-type:token-exchange", JSON: true,
		SubjectTokenType: oauth2.TokenTypeJWT, SubjectAudience: oauth2.OpenAIAudience,
		Params: map[string]string{"identity_provider_id": q.Get("param.identity_provider_id"), "service_account_id": q.Get("param.service_account_id")},
	})
	defer tokens.Close()
	api := newFakeAPI(tokens, credential.SystemClock)
	defer api.Close()
	api.accept(apiKey)

	env := func(name string) string {
		v := m.env[name]
		switch name {
		case "MODEL_API_URL", "OPENAI_API_URL":
			return api.URL
		case "OPENAI_FEDERATION_URL":
			v = strings.Replace(v, "oauth2://"+fu.Host, "oauth2://"+strings.TrimPrefix(tokens.URL, "http://"), 1)
			return strings.Replace(v, "subject=file:///", "subject=file://"+url.QueryEscape(root)+"/", 1)
		case "MODEL_API_KEY_URL", "HEALTH_TOKEN_URL":
			v = strings.Replace(v, "file://", "file://"+root, 1)
		}
		return v
	}
	cfg, err := configFromEnv(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Client = &http.Client{Timeout: 10 * time.Second}
	svc, err := NewService(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	web := httptest.NewServer(svc.Handler)
	defer web.Close()
	// The checks start pending: /readyz answers 503 until they have run.
	if err := waitReady(ctx, web.Client(), web.URL, svc); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/livez", "/readyz"} {
		resp, err := web.Client().Get(web.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s answered %d", p, resp.StatusCode)
		}
	}
	for _, n := range []string{apiKeyName, federatedName} {
		svc.Monitor.RunNow(n + ":credential")
	}
	var detail syncBuffer
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := readyDetail(web.Client(), web.URL, cfg.HealthToken, svc.Set, &detail)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz detail does not show both credentials fresh: %s", lastDetail(&detail))
		}
		select {
		case <-time.After(10 * time.Millisecond): // the monitor's runs are asynchronous
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	for _, p := range []string{"/v1/chat", "/v1/embed"} {
		resp, err := web.Client().Post(web.URL+p, "application/json", strings.NewReader(`{"input":"hello"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s answered %d", p, resp.StatusCode)
		}
	}
}
