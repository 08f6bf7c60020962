package redact_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"

	"github.com/credkit/credkit/redact"
)

// leakCase is a text that holds a secret nobody registered.
type leakCase struct{ text, secret string }

// gen makes deterministic fake token bodies.
type gen struct{ rng *rand.Rand }

func newGen(seed uint64) *gen { return &gen{rand.New(rand.NewPCG(seed, seed+1))} }

func (g *gen) of(alpha string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alpha[g.rng.IntN(len(alpha))]
	}
	// Every fake starts FAKE (fa4e in hex), so a reader sees it is fake.
	if strings.Contains(alpha, "K") {
		copy(b, "FAKE")
	} else if strings.Contains(alpha, "f") && n >= 4 {
		copy(b, "fa4e")
	}
	return string(b)
}

const (
	alnumA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	tokA   = alnumA + "_-"
	b64A   = alnumA + "+/"
	hexA   = "0123456789abcdef"
)

// vendorCases are tokens with a distinctive prefix, several of each.
func vendorCases() map[string][]leakCase {
	g := newGen(1)
	type f struct {
		prefix, alpha string
		n             int
	}
	formats := map[string][]f{
		"openai":       {{"sk-proj-", tokA, 120}, {"sk-svcacct-", tokA, 60}, {"sk-admin-", tokA, 60}, {"sk-", alnumA, 48}},
		"anthropic":    {{"sk-ant-api03-", tokA, 95}, {"sk-ant-admin01-", tokA, 95}, {"sk-ant-oat01-", tokA, 95}},
		"google":       {{"AIza", tokA, 35}, {"ya29.", tokA, 150}, {"1//0", tokA, 100}, {"GOCSPX-", tokA, 28}},
		"huggingface":  {{"hf_", alnumA, 34}, {"api_org_", alnumA, 34}},
		"groq":         {{"gsk_", alnumA, 52}},
		"replicate":    {{"r8_", alnumA, 37}},
		"perplexity":   {{"pplx-", alnumA, 48}},
		"xai":          {{"xai-", alnumA, 80}},
		"openrouter":   {{"sk-or-v1-", hexA, 64}},
		"pinecone":     {{"pcsk_", tokA, 70}},
		"together":     {{"tgp_v1_", tokA, 43}},
		"nvidia":       {{"nvapi-", tokA, 64}},
		"langsmith":    {{"lsv2_pt_", hexA, 43}, {"lsv2_sk_", hexA, 43}},
		"voyage":       {{"pa-", tokA, 43}},
		"tavily":       {{"tvly-dev-", alnumA, 32}, {"tvly-", alnumA, 32}},
		"fireworks":    {{"fw_", alnumA, 24}},
		"cerebras":     {{"csk-", alnumA, 48}},
		"elevenlabs":   {{"sk_", hexA, 48}},
		"aws":          {{"AKIA", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16}, {"ASIA", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16}},
		"aws-sts":      {{"FwoGZXIvYXdzE", b64A, 300}, {"IQoJb3JpZ2luX2VjE", b64A, 600}},
		"bedrock":      {{"ABSK", b64A, 120}},
		"github":       {{"ghp_", alnumA, 36}, {"gho_", alnumA, 36}, {"ghs_", alnumA, 36}, {"github_pat_11", tokA, 70}},
		"gitlab":       {{"glpat-", tokA, 20}, {"glrt-", tokA, 20}},
		"slack":        {{"xoxb-", "0123456789-", 40}, {"xoxp-", alnumA + "-", 60}, {"xapp-1-", alnumA + "-", 60}},
		"stripe":       {{"sk_live_", alnumA, 99}, {"rk_live_", alnumA, 99}, {"whsec_", b64A, 32}, {"sk_test_", alnumA, 24}},
		"sendgrid":     {{"SG.", tokA, 22}},
		"twilio":       {{"SK", hexA, 32}},
		"npm":          {{"npm_", alnumA, 36}},
		"pypi":         {{"pypi-AgEIcHlwaS5vcmc", tokA, 70}},
		"shopify":      {{"shpat_", hexA, 32}},
		"digitalocean": {{"dop_v1_", hexA, 64}},
		"hashicorp":    {{"hvs.", tokA, 90}},
		"grafana":      {{"glsa_", tokA, 40}},
		"newrelic":     {{"NRAK-", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 27}},
		"postman":      {{"PMAK-", tokA, 59}},
		"linear":       {{"lin_api_", alnumA, 40}},
		"age":          {{"AGE-SECRET-KEY-1", "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58}},
		"mailgun":      {{"key-", hexA, 32}},
		"sentry":       {{"sntrys_", b64A, 80}},
	}
	out := map[string][]leakCase{}
	for class, fs := range formats {
		for _, ff := range fs {
			for i := 0; i < 4; i++ {
				body := g.of(ff.alpha, ff.n)
				if class == "sendgrid" {
					body += "." + g.of(tokA, 43)
				}
				tok := ff.prefix + body
				out[class] = append(out[class], leakCase{tok, body})
			}
		}
	}
	// Azure AD client secrets: xxx8Q~ then 34 more.
	for i := 0; i < 4; i++ {
		s := g.of(alnumA, 3) + "8Q~" + g.of(alnumA+"_~.-", 34)
		out["azure-ad"] = append(out["azure-ad"], leakCase{s, s})
	}
	return out
}

// longCases are tokens of every length: a match runs to their end.
func longCases() []leakCase {
	g := newGen(2)
	var out []leakCase
	for _, n := range []int{100, 511, 513, 767, 1024, 1167, 2048, 3100, 8000, 40000} {
		payload := g.of(tokA, n)
		jwt := "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + payload + "." + g.of(tokA, 342)
		out = append(out,
			leakCase{jwt, payload[len(payload)-8:]},
			leakCase{"Authorization: Bearer " + jwt, jwt[len(jwt)-12:]},
			leakCase{"Bearer " + g.of(alnumA+"._~+/-", n), ""},
			leakCase{"Authorization: Bearer " + g.of(alnumA, n), ""},
			leakCase{"sk-proj-" + g.of(tokA, n), ""},
			leakCase{"ghp_" + g.of(alnumA, n), ""},
		)
	}
	for i := range out {
		if out[i].secret == "" {
			out[i].secret = out[i].text[len(out[i].text)-10:]
		}
	}
	return out
}

// oauthToken prints like golang.org/x/oauth2.Token with %+v.
type oauthToken struct {
	AccessToken  string
	TokenType    string
	RefreshToken string
	Expiry       time.Time
	ExpiresIn    int64
}

// shapeCases are secrets without a prefix of their own, in the shapes
// real logs have them.
func shapeCases() map[string][]leakCase {
	g := newGen(3)
	awsSecret := func() string { return g.of(b64A, 40) }
	out := map[string][]leakCase{}
	add := func(class, text, secret string) { out[class] = append(out[class], leakCase{text, secret}) }
	for i := 0; i < 4; i++ {
		s := awsSecret()
		add("aws-secret", "[default]\naws_access_key_id = AKIAFAKEFAKEFAKE2345\naws_secret_access_key = "+s+"\n", s)
		s = awsSecret()
		add("aws-secret", "export AWS_ACCESS_KEY_ID=AKIAFAKEFAKEFAKE2345\nexport AWS_SECRET_ACCESS_KEY="+s, s)
		s = awsSecret()
		add("aws-secret", "aws_secret_access_key="+s, s)
		s = awsSecret()
		tok := g.of(b64A, 200)
		add("aws-secret", fmt.Sprintf("%+v", aws.Credentials{AccessKeyID: "AKIAFAKEFAKEFAKE2345", SecretAccessKey: s, SessionToken: tok, Source: "test"}), s)
		add("aws-sts", fmt.Sprintf("%+v", aws.Credentials{AccessKeyID: "ASIAFAKEFAKEFAKE2345", SecretAccessKey: awsSecret(), SessionToken: tok}), tok)
		tok = g.of(b64A, 300)
		add("aws-sts", "AWS_SESSION_TOKEN="+tok, tok)
		add("aws-sts", "https://bucket.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Security-Token="+strings.ReplaceAll(tok, "/", "%2F")+"&X-Amz-Signature=abc", tok[:20])
		sig := g.of(hexA, 64)
		add("aws-sigv4", "Authorization: AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKE2345/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature="+sig, sig)
		add("aws-sigv4", "GET /o?X-Amz-Credential=AKIAFAKE%2F20260101&X-Amz-Signature="+sig+" HTTP/1.1", sig)

		k := g.of(b64A, 86) + "=="
		add("azure-storage", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey="+k+";EndpointSuffix=core.windows.net", k)
		sas := "sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-12-01&sig=" + g.of(b64A, 43) + "%3D"
		add("azure-storage", "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature="+sas, sas[len(sas)-20:])
		add("azure-storage", "https://acct.blob.core.windows.net/c/b?"+sas, sas[len(sas)-20:])
		cs := g.of(alnumA, 3) + "8Q~" + g.of(alnumA+"_~.-", 34)
		add("azure-ad", "AZURE_CLIENT_SECRET="+cs, cs)
		cs2 := g.of(alnumA+"-_", 32)
		add("azure-ad", "AZURE_CLIENT_SECRET="+cs2, cs2)

		at, rt := "ya29."+g.of(tokA, 120), "1//0"+g.of(tokA, 90)
		add("oauth2", fmt.Sprintf("%+v", oauthToken{AccessToken: at, TokenType: "Bearer", RefreshToken: rt, Expiry: time.Unix(1, 0).UTC()}), at[5:])
		opaque, opaqueR := g.of(alnumA, 40), g.of(alnumA, 40)
		add("oauth2", fmt.Sprintf("%+v", &oauthToken{AccessToken: opaque, TokenType: "Bearer", RefreshToken: opaqueR}), opaque)
		add("oauth2", fmt.Sprintf("%+v", &oauthToken{AccessToken: opaque, TokenType: "Bearer", RefreshToken: opaqueR}), opaqueR)

		pw := g.of(alnumA+"!#$%^*", 16)
		add("dsn", "app:"+pw+"@tcp(db.internal:3306)/app?parseTime=true", pw)
		add("dsn", "root:"+pw+"@unix(/var/run/mysqld.sock)/app", pw)
		add("dsn", "host=db.internal port=5432 user=app password="+pw+" dbname=app sslmode=require", pw)
		add("dsn", "postgres://app:"+pw+"@db.internal:5432/app?sslmode=require", pw)
		add("dsn", "jdbc:sqlserver://db:1433;databaseName=app;user=app;password="+pw, pw)
		add("dsn", "Server=db;Database=app;User Id=app;Password="+pw+";", pw)
		add("dsn", "DATABASE_URL=postgres://app:"+pw+"@db/app", pw)
		add("netrc", "machine api.example.com login me password "+pw, pw)
		add("netrc", "machine api.example.com\n  login me\n  password "+pw+"\n", pw)
		add("docker", "docker login -u me -p "+pw+" registry.example.com", pw)
		add("docker", "docker login --password "+pw+" ghcr.io", pw)
		add("docker", "podman login --username me --password="+pw+" quay.io", pw)
		auth := base64.StdEncoding.EncodeToString([]byte("me:ghp_" + g.of(alnumA, 36)))
		add("docker", `{"auths":{"ghcr.io":{"auth":"`+auth+`"}}}`, auth)
		npm := "npm_" + g.of(alnumA, 36)
		add("npm", "//registry.npmjs.org/:_authToken="+npm, npm)
		opq := g.of(alnumA, 30)
		add("npm", "//npm.example.com/:_authToken="+opq, opq)
		add("npm", "_auth="+base64.StdEncoding.EncodeToString([]byte("me:"+pw)), base64.StdEncoding.EncodeToString([]byte("me:"+pw)))
		add("curl", "curl -u admin:"+pw+" https://api.example.com", pw)
		add("curl", "curl --user 'admin:"+pw+"' https://api.example.com", pw)

		hk := g.of(alnumA, 32)
		for _, h := range []string{"X-API-Key", "x-api-key", "X-Api-Key", "X-API-KEY", "Api-Key", "PRIVATE-TOKEN", "Private-Token", "X-Auth-Token", "x-goog-api-key", "Authorization", "authorization", "AUTHORIZATION", "Proxy-Authorization", "Cookie", "X-Amz-Security-Token"} {
			add("header", h+": "+hk, hk)
			add("header", `"`+h+`":"`+hk+`"`, hk)
		}
		add("header", "authorization: bearer "+hk, hk)
		add("header", "Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte("me:"+pw)), base64.StdEncoding.EncodeToString([]byte("me:"+pw)))
		add("header", "Authorization: Token "+hk, hk)
		hdr := http.Header{}
		hdr.Set("Apikey", hk)
		hdr.Set("Content-Type", "application/json")
		add("header", fmt.Sprintf("%v", hdr), hk)
		hdr = http.Header{}
		hdr.Set("Authorization", "Bearer "+hk)
		add("header", fmt.Sprintf("%v", hdr), hk)
		add("header", fmt.Sprintf("%+v", hdr), hk)

		for _, name := range []string{"CO_API_KEY", "COHERE_API_KEY", "MISTRAL_API_KEY", "TOGETHER_API_KEY", "VOYAGE_API_KEY", "DEEPSEEK_API_KEY", "AZURE_OPENAI_API_KEY", "TWILIO_AUTH_TOKEN", "SENDGRID_API_KEY", "STRIPE_WEBHOOK_SECRET", "GITLAB_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "PINECONE_API_KEY", "QDRANT_API_KEY", "WEAVIATE_API_KEY", "JINA_API_KEY", "DEEPGRAM_API_KEY", "ELEVENLABS_API_KEY"} {
			v := g.of(alnumA, 40)
			add("named", name+"="+v, v)
			add("named", "export "+name+"='"+v+"'", v)
		}
		v := g.of(alnumA, 40)
		add("named", `{"api_key": "`+v+`"}`, v)
		add("named", `{"apiKey":"`+v+`","model":"command-r"}`, v)
		add("named", "apiKey: "+v, v)
		add("named", "api_key: "+v, v)
		add("named", "openaiApiKey="+v, v)
		add("named", `clientSecret: "`+v+`"`, v)
		add("named", `privateKey = "`+v+`"`, v)
		add("named", "accessToken="+v, v)
		add("named", "refresh_token="+v, v)
		add("named", "sessionToken: "+v, v)
		add("named", "bearerToken: "+v, v)
		add("named", "connection_string="+v, v)
		add("named", "dsn="+v, v)
		add("named", "webhook_secret="+v, v)
		add("named", "password=hunter2x", "hunter2x")
		add("named", "Password:"+v, v)
		add("named", `{"msg":"{\"api_key\":\"`+v+`\"}"}`, v)
		add("named", "https://api.example.com/v1?key="+v, v)
		add("named", "https://api.example.com/v1?foo=1&access_token="+v, v)
		add("named", "https://api.example.com/v1?api-key="+v+"&x=1", v)
	}
	return out
}

func TestDetectorsFindEveryClass(t *testing.T) {
	r := redact.New()
	bare := slog.New(redact.NewHandler(slog.NewJSONHandler(new(bytes.Buffer), nil), r))
	_ = bare
	prose := strings.Repeat("Summarize the ticket below in three bullet points, then propose a reply. ", 5)
	classes := vendorCases()
	for k, v := range shapeCases() {
		classes[k] = v
	}
	classes["long-token"] = longCases()
	for class, cases := range classes {
		assert.GreaterOrEqual(t, len(cases), 4, "%s: too few instances", class)
		for i, c := range cases {
			for _, text := range []string{c.text, "log: " + c.text + " end", prose + c.text + "\n" + prose} {
				out := r.String(text)
				if strings.Contains(out, c.secret) {
					t.Errorf("%s #%d: the secret is left in %d bytes: %.80q", class, i, len(text), out)
				}
			}
			// Through the Handler, as a message, an attribute and inside a map.
			var buf bytes.Buffer
			l := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r))
			l.Info(c.text)
			l.Info("m", "a", c.text, "m", map[string]any{"k": c.text})
			js, _ := json.Marshal(c.secret)
			if bytes.Contains(buf.Bytes(), js[1:len(js)-1]) {
				t.Errorf("%s #%d: the secret leaked through the Handler", class, i)
			}
		}
	}
}
