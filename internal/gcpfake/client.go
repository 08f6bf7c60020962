package gcpfake

import (
	"context"

	"cloud.google.com/go/pubsub/v2"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// ClientOptions returns the options that point a Google Cloud client at
// the fake Secret Manager: its endpoint, no authentication, plaintext gRPC.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.Addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// Client returns a real Secret Manager client that talks to s over gRPC.
// The caller closes it.
func (s *Server) Client(ctx context.Context) (*secretmanager.Client, error) {
	return secretmanager.NewClient(ctx, s.ClientOptions()...)
}

// PubSubClient returns a real Pub/Sub client of project that talks to the
// pstest server. The caller closes it.
func (s *Server) PubSubClient(ctx context.Context, project string) (*pubsub.Client, error) {
	return pubsub.NewClient(ctx, project,
		option.WithEndpoint(s.PubSub.Addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	)
}
