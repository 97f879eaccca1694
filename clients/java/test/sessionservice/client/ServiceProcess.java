package sessionservice.client;

import io.grpc.Channel;
import io.grpc.Context;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Test support: the repository's own {@code session-service serve} on a free port with a
 * throwaway data directory. {@link #close} sends SIGTERM and fails unless the exit code is 0.
 */
final class ServiceProcess implements AutoCloseable {
  final String address;
  private final Process process;
  private final Path dataDir;
  private final Path log;
  private ManagedChannel plaintext;

  private ServiceProcess(String address, Process process, Path dataDir, Path log) {
    this.address = address;
    this.process = process;
    this.dataDir = dataDir;
    this.log = log;
  }

  /** The repository: -Dsessionservice.repo, which ./dev sets, or the working directory. */
  static Path repo() {
    return Path.of(System.getProperty("sessionservice.repo", System.getProperty("user.dir")));
  }

  private static String binary() {
    String bin = System.getenv("SESSION_SERVICE_BIN");
    return bin != null && !bin.isEmpty() ? bin : repo().resolve(".venv/bin/session-service").toString();
  }

  static ServiceProcess start(String... flags) throws IOException {
    int port;
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = socket.getLocalPort();
    }
    Path dataDir = Files.createTempDirectory("session-service-java-");
    Path log = dataDir.resolve("service.log");
    List<String> command = new ArrayList<>(List.of(binary(), "serve", "--host", "127.0.0.1", "--port",
        String.valueOf(port), "--data-dir", dataDir.toString(), "--log-level", "warning"));
    command.addAll(List.of(flags));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    // The service reads its settings from SESSION_SERVICE_* variables: start it with none.
    builder.environment().keySet().removeIf(name -> name.startsWith("SESSION_SERVICE_"));
    // For --claims-module client_test_claims.
    builder.environment().put("PYTHONPATH", repo().resolve("clients/testdata").toAbsolutePath().toString());
    Process process = builder.start();
    // Should the JVM exit without close() (System.exit, a signal), do not leave the service running.
    Runtime.getRuntime().addShutdownHook(new Thread(process::destroy));
    return new ServiceProcess("127.0.0.1:" + port, process, dataDir, log);
  }

  /** A plaintext service, SERVING; {@link #channel} reaches it. */
  static ServiceProcess startServing(String... flags) throws IOException {
    ServiceProcess service = start(flags);
    try {
      service.waitForServing(service.channel());
    } catch (AssertionError e) {
      service.close();
      throw e;
    }
    return service;
  }

  /** A plaintext channel to the service, shut down by {@link #close}. */
  synchronized ManagedChannel channel() {
    if (plaintext == null) {
      plaintext = Grpc.newChannelBuilder(address, InsecureChannelCredentials.create()).build();
    }
    return plaintext;
  }

  /** Waits for SERVING through {@code channel}; fails at once if the process exits first. */
  void waitForServing(Channel channel) {
    Context.CancellableContext startup = Context.current().withCancellation();
    process.onExit().thenRun(() -> startup.cancel(null));
    try {
      startup.run(() -> new SessionClient(channel).waitForServing(Duration.ofSeconds(60)));
    } catch (StatusRuntimeException e) {
      String why = process.isAlive() ? "not SERVING: " + e : "exited with " + process.exitValue() + " before SERVING";
      throw new AssertionError("session-service " + why + "\n" + output(), e);
    } finally {
      startup.cancel(null);
    }
  }

  /** Sends SIGTERM (as Process.destroy does on Linux) without waiting. */
  void terminate() {
    process.destroy();
  }

  String output() {
    try {
      return Files.readString(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(no output: " + e + ")";
    }
  }

  @Override
  public void close() {
    try {
      synchronized (this) {
        if (plaintext != null) {
          plaintext.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
      }
      process.destroy();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        throw new AssertionError("session-service did not exit within 30 s of SIGTERM\n" + output());
      }
      if (process.exitValue() != 0) {
        throw new AssertionError("session-service exited with " + process.exitValue() + " after SIGTERM\n" + output());
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted while stopping session-service", e);
    } finally {
      delete(dataDir);
    }
  }

  static void delete(Path dir) {
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
