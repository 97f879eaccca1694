package session

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Health reports readiness through grpc.health.v1 Check for the whole server: SERVING once the
// session core answers, NOT_SERVING while it does not or while the service shuts down.
func (c *Client) Health(ctx context.Context) (healthpb.HealthCheckResponse_ServingStatus, error) {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	resp, err := healthpb.NewHealthClient(c.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return healthpb.HealthCheckResponse_UNKNOWN, err
	}
	return resp.Status, nil
}

// WaitForServing returns once the service reports SERVING, watching grpc.health.v1 Watch and
// waiting for the connection while the service starts. Bound it with the context's deadline.
func (c *Client) WaitForServing(ctx context.Context) error {
	health := healthpb.NewHealthClient(c.conn)
	backoff := 50 * time.Millisecond
	for {
		err := watchUntilServing(ctx, health)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if status.Code(err) == codes.Unimplemented {
			return err
		}
		// The stream broke (e.g. the service restarted): watch again, after a short pause so a
		// server that refuses at once is not called in a tight loop.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		if backoff < time.Second {
			backoff *= 2
		}
	}
}

func watchUntilServing(ctx context.Context, health healthpb.HealthClient) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := health.Watch(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return status.Error(codes.Unavailable, "the health stream ended before SERVING")
		}
		if err != nil {
			return err
		}
		if resp.Status == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
	}
}
