package sessionservice.client;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The generated code in clients/java/gen is what protos/ produces now. It is not committed:
 * ./dev generates it with buf.gen.yaml before every run and records the inputs it used in
 * gen/SOURCES.sha256 (sha256sum format). A stale gen/ (protos changed since, classes compiled by
 * hand) fails here instead of testing an old contract.
 */
public class GeneratedCodeTest {
  private static final String CLIENT = "clients/java";

  @Rule public TemporaryFolder temporary = new TemporaryFolder();

  /**
   * What the generated code is made from, in sha256sum format and path order: every .proto under
   * protos/ and under the client (outside directories named gen or build), and its buf.gen.yaml.
   */
  static String sourcesManifest(Path root) throws IOException {
    List<Path> paths = new ArrayList<>();
    for (String dir : List.of("protos", CLIENT)) {
      try (Stream<Path> walk = Files.walk(root.resolve(dir))) {
        walk.filter(path -> path.toString().endsWith(".proto") && !generated(root.relativize(path)))
            .forEach(paths::add);
      }
    }
    paths.add(root.resolve(CLIENT).resolve("buf.gen.yaml"));
    return paths.stream()
        .map(path -> sha256(path) + "  " + root.relativize(path).toString().replace('\\', '/') + "\n")
        .sorted((a, b) -> a.substring(66).compareTo(b.substring(66)))
        .collect(Collectors.joining());
  }

  private static boolean generated(Path relative) {
    for (Path part : relative.getParent()) {
      if (part.toString().equals("gen") || part.toString().equals("build")) {
        return true;
      }
    }
    return false;
  }

  private static String sha256(Path path) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(path)));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  public void generatedCodeMatchesProtos() throws IOException {
    Path root = ServiceProcess.repo();
    Path record = root.resolve(CLIENT).resolve("gen/SOURCES.sha256");
    assertTrue("no record of what gen/ was generated from: generate with ./dev test-java", Files.exists(record));
    String current = sourcesManifest(root);
    assertTrue(current, current.contains("  protos/session/v1/session_service.proto\n"));
    assertTrue(current, current.contains("  clients/java/health/grpc/health/v1/health.proto\n"));
    assertEquals("gen/ is stale: regenerate with ./dev test-java", Files.readString(record), current);
  }

  @Test
  public void manifestNoticesAChangedProto() throws IOException {
    Path root = temporary.getRoot().toPath();
    for (String path : List.of("protos/session/v1/session_service.proto", CLIENT + "/buf.gen.yaml",
        CLIENT + "/health/grpc/health/v1/health.proto")) {
      Files.createDirectories(root.resolve(path).getParent());
      Files.copy(ServiceProcess.repo().resolve(path), root.resolve(path));
    }
    String[] before = sourcesManifest(root).split("\n");
    Files.writeString(root.resolve("protos/session/v1/session_service.proto"), "// one more line\n",
        StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    String[] after = sourcesManifest(root).split("\n");
    assertEquals(3, after.length);
    assertEquals(before[0], after[0]);
    assertEquals(before[1], after[1]);
    assertNotEquals(before[2], after[2]);
    assertTrue(after[2], after[2].endsWith("  protos/session/v1/session_service.proto"));
  }
}
