package awsfake

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Client returns a real Secrets Manager client that talks to s, signing its
// requests with obviously fake static credentials. maxAttempts sets the
// SDK's retryer (0 keeps the SDK default of 3).
func (s *Server) Client(maxAttempts int) *secretsmanager.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIAFAKEFAKEFAKE0000", "FAKEsecretFAKEsecretFAKEsecretFAKEsecret", ""),
		HTTPClient:  s.Server.Client(),
	}
	if maxAttempts > 0 {
		cfg.RetryMaxAttempts = maxAttempts
	}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		o.BaseEndpoint = aws.String(s.URL)
		o.HTTPClient = plainBodies{o.HTTPClient}
	})
}

// SQSClient returns a real SQS client that talks to s, signing its requests
// with the same fake credentials. maxAttempts sets the SDK's retryer (0
// keeps the SDK default of 3).
func (s *Server) SQSClient(maxAttempts int) *sqs.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIAFAKEFAKEFAKE0000", "FAKEsecretFAKEsecretFAKEsecretFAKEsecret", ""),
		HTTPClient:  s.Server.Client(),
	}
	if maxAttempts > 0 {
		cfg.RetryMaxAttempts = maxAttempts
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(s.URL)
		o.HTTPClient = plainBodies{o.HTTPClient}
	})
}

// plainBodies hides every method of a request body but Read and Close, as
// provider/aws does for the clients it builds: smithy-go closes a request
// body when the response headers arrive and its body then answers WriteTo
// with io.EOF, which net/http's final "is the body over?" read takes for an
// error, closing the connection while the response is being read ("use of
// closed network connection", aws/aws-sdk-go-v2#2737). Tests run the SDK
// without retries to count calls exactly, so they would see that failure.
type plainBodies struct{ c secretsmanager.HTTPClient }

type bodyReader struct{ io.ReadCloser }

func (p plainBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = bodyReader{r.Body}
	}
	return p.c.Do(r)
}
