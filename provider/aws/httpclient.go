package aws

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// bodyReader hides every method of a request body but Read and Close.
type bodyReader struct{ io.ReadCloser }

// plainBodies is an HTTP client for the SDK that works around a race
// between smithy-go and net/http, which fails a call that succeeded with
// "use of closed network connection" (aws/aws-sdk-go-v2#1825, #2737).
//
// smithy-go closes a request's body as soon as the response headers arrive,
// and its body then answers WriteTo with io.EOF. net/http, after sending the
// body, reads it once more to check that it is over: through WriteTo, since
// the body has one, and io.Copy takes WriteTo's io.EOF for an error. When
// the body went straight to the socket (as it does once the headers are
// flushed) the server may answer before that last read; net/http then sees
// an error in its write loop and closes the connection while the response
// is being read. The SDK retries it, but a retry is a second call, and with
// retries off (maxAttempts 1) the call fails. Hiding WriteTo makes the last
// read a plain Read, which answers (0, io.EOF) as it should.
type plainBodies struct{ c secretsmanager.HTTPClient }

func (p plainBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = bodyReader{r.Body}
	}
	return p.c.Do(r)
}

// fixHTTPClient installs plainBodies on the options of a client credkit
// builds.
func fixHTTPClient(o *secretsmanager.Options) {
	c := o.HTTPClient
	if c == nil {
		c = http.DefaultClient
	}
	if _, ok := c.(plainBodies); !ok {
		o.HTTPClient = plainBodies{c}
	}
}
