package session_test

// The generated code in ../gen is what protos/ produces now. It is not committed: ./dev
// generates it with buf.gen.yaml before every run and records the inputs it used in
// gen/SOURCES.sha256 (sha256sum format). A stale gen/ (protos changed since, and `go test` run
// directly) fails here instead of testing an old contract. The live service is asked too: the
// contract compiled into this package must be the one it serves (server reflection).

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	sessionv1 "sessionservice/gen/session/v1"

	"google.golang.org/grpc"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
)

const client = "clients/go"

// sourcesManifest lists, in sha256sum format and path order, what the generated code is made
// from: every .proto under protos/ and under the client (outside directories named gen or build),
// and its buf.gen.yaml.
func sourcesManifest(root string) (string, error) {
	var paths []string
	for _, dir := range []string{"protos", client} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, entry fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if entry.IsDir() && (entry.Name() == "gen" || entry.Name() == "build") {
				return filepath.SkipDir
			}
			if !entry.IsDir() && strings.HasSuffix(path, ".proto") {
				paths = append(paths, path)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	paths = append(paths, filepath.Join(root, client, "buf.gen.yaml"))
	var lines []string
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		relative, err := filepath.Rel(root, path)
		if err != nil {
			return "", err
		}
		lines = append(lines, fmt.Sprintf("%x  %s\n", sha256.Sum256(data), filepath.ToSlash(relative)))
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][66:] < lines[j][66:] })
	return strings.Join(lines, ""), nil
}

func TestGeneratedCodeMatchesProtos(t *testing.T) {
	recorded, err := os.ReadFile(filepath.Join(repoRoot, client, "gen", "SOURCES.sha256"))
	if err != nil {
		t.Fatalf("no record of what gen/ was generated from (generate with ./dev test-go): %v", err)
	}
	current, err := sourcesManifest(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(current, "  protos/session/v1/session_service.proto\n") {
		t.Fatalf("the manifest misses the contract:\n%s", current)
	}
	if string(recorded) != current {
		t.Fatalf("gen/ is stale: generated from\n%s\nbut the sources are now\n%s\nregenerate with ./dev test-go", recorded, current)
	}
}

func TestManifestNoticesAChangedProto(t *testing.T) {
	root := t.TempDir()
	for _, path := range []string{"protos/session/v1/session_service.proto", client + "/buf.gen.yaml"} {
		copyFile(t, filepath.Join(repoRoot, path), filepath.Join(root, path))
	}
	before, err := sourcesManifest(root)
	if err != nil {
		t.Fatal(err)
	}
	contract := filepath.Join(root, "protos/session/v1/session_service.proto")
	f, err := os.OpenFile(contract, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("// one more line\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	after, err := sourcesManifest(root)
	if err != nil {
		t.Fatal(err)
	}
	was, now := strings.Split(before, "\n"), strings.Split(after, "\n")
	if was[0] != now[0] || was[1] == now[1] || !strings.HasSuffix(now[1], "  protos/session/v1/session_service.proto") {
		t.Fatalf("the proto's line, and only it, must change:\n%s\n%s", before, after)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
}

// served asks the service's reflection for the file that defines symbol.
func served(t *testing.T, conn *grpc.ClientConn, symbol string) *descriptorpb.FileDescriptorProto {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(callContext(t))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	files := resp.GetFileDescriptorResponse().GetFileDescriptorProto()
	if len(files) == 0 {
		t.Fatalf("reflection: %v", resp)
	}
	file := &descriptorpb.FileDescriptorProto{}
	if err := proto.Unmarshal(files[0], file); err != nil {
		t.Fatal(err)
	}
	return file
}

// contractOnly drops what generators choose (file options such as go_package, json_name, source
// info), leaving the messages, enums and services.
func contractOnly(file *descriptorpb.FileDescriptorProto) *descriptorpb.FileDescriptorProto {
	file = proto.Clone(file).(*descriptorpb.FileDescriptorProto)
	file.Options, file.SourceCodeInfo = nil, nil
	var strip func(messages []*descriptorpb.DescriptorProto)
	strip = func(messages []*descriptorpb.DescriptorProto) {
		for _, message := range messages {
			for _, field := range message.Field {
				field.JsonName = nil
			}
			strip(message.NestedType)
		}
	}
	strip(file.MessageType)
	return file
}

// differences names the top-level messages, enums and services that differ between two files.
func differences(a, b *descriptorpb.FileDescriptorProto) []string {
	named := func(file *descriptorpb.FileDescriptorProto) map[string]proto.Message {
		all := map[string]proto.Message{}
		for _, m := range file.MessageType {
			all["message "+m.GetName()] = m
		}
		for _, e := range file.EnumType {
			all["enum "+e.GetName()] = e
		}
		for _, s := range file.Service {
			all["service "+s.GetName()] = s
		}
		return all
	}
	left, right := named(a), named(b)
	var differ []string
	for name, definition := range left {
		if other, ok := right[name]; !ok || !proto.Equal(definition, other) {
			differ = append(differ, name)
		}
	}
	for name := range right {
		if _, ok := left[name]; !ok {
			differ = append(differ, name)
		}
	}
	sort.Strings(differ)
	return differ
}

func TestGeneratedCodeIsTheContractTheServiceServes(t *testing.T) {
	compiled := contractOnly(protodesc.ToFileDescriptorProto(sessionv1.File_session_v1_session_service_proto))
	live := contractOnly(served(t, sharedConn, "session.v1.SessionService"))
	if len(compiled.MessageType) == 0 || len(compiled.Service) != 1 {
		t.Fatalf("compiled contract: %d messages, %d services", len(compiled.MessageType), len(compiled.Service))
	}
	if !proto.Equal(compiled, live) {
		where := differences(compiled, live)
		if len(where) == 0 {
			where = []string{"the file's name, package or imports"}
		}
		t.Fatalf("the compiled contract differs from the one the service serves in %v", where)
	}
}
