package sessionservice.client;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * DOC-SNIPPET: the README's Java program runs as pasted. The docs harness (tests/docs) runs sh,
 * python and ts blocks only, so the README marks this one not runnable, naming this test; fold it
 * into the harness if that learns Java. The block is the ```java fence after the line that names
 * ReadmeSnippetTest.java in clients/java/README.md; the expected output is the ```text fence after
 * it. It runs the way the README says: java's source-file mode, on the classpath ./dev uses.
 */
public class ReadmeSnippetTest {
  private static final String MARKER = "ReadmeSnippetTest.java runs it";

  @Rule public TemporaryFolder temporary = new TemporaryFolder();

  /** The body of the first ```lang fence after MARKER. */
  static String fenceAfter(String text, String lang) {
    int marker = text.indexOf(MARKER);
    assertTrue("no " + MARKER + " in the README", marker >= 0);
    String open = "```" + lang + "\n";
    int start = text.indexOf(open, marker);
    assertTrue("no " + open.strip() + " block after the marker", start >= 0);
    int end = text.indexOf("\n```", start + open.length());
    assertTrue("the " + lang + " block is not closed", end >= 0);
    return text.substring(start + open.length(), end + 1);
  }

  @Test
  public void readmeProgramRunsAsPasted() throws Exception {
    String readme = Files.readString(ServiceProcess.repo().resolve("clients/java/README.md"));
    Path program = temporary.getRoot().toPath().resolve("Hello.java");
    Files.writeString(program, fenceAfter(readme, "java"));
    try (ServiceProcess service = ServiceProcess.startServing()) {
      Process run = new ProcessBuilder("java", "-cp", System.getProperty("java.class.path"), program.toString(), service.address)
          .redirectErrorStream(true)
          .start();
      String output = new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertEquals("java Hello.java failed:\n" + output, 0, run.waitFor());
      assertEquals(fenceAfter(readme, "text"), output);
    }
  }
}
