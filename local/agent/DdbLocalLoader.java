import java.lang.instrument.Instrumentation;

/**
 * A Java agent that does nothing. LocalStack starts DynamoDB Local with
 * -javaagent:ddb-local-loader-0.1.jar (a patch it would otherwise download from the internet);
 * this stand-in lets the JVM start offline. The launcher builds it with the JDK's javac and jar.
 */
public final class DdbLocalLoader {
    private DdbLocalLoader() {
    }

    public static void premain(String args, Instrumentation instrumentation) {
        // intentionally empty
    }
}
