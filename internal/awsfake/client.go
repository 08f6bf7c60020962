package awsfake

import (
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
	})
}
