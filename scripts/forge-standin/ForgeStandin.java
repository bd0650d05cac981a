// The entry point of the stand-in forge.jar that `scripts/images build` puts in the forge/ folder of
// Dockerfile.daemon's ENGINE=forge build, because real Forge cannot be fetched or built here. It is
// NOT Forge: `java -jar forge.jar daemon -p PORT` runs Tolaria's emulation of the Forge RL daemon's
// dialect (`tolaria daemon --dialect forge`, on the built-in engine), so that the image's Forge
// stage, its start script, JVM settings, profile, decks and probes are built and run for real.
//
// What it does as Forge does: it reads forge.profile.properties from the working directory (the
// start script runs it in the program directory), resolves userDir, cacheDir and the deck folders
// with Forge's defaults (ForgeProfileProperties.load), creates the user and cache folders, and serves
// NEWGAME's decks from decksConstructedDir. The emulation's Python packages live beside the jar
// (emulation/), and python3 must be on PATH: the stand-in of JAVA_IMAGE carries it, a real JRE
// image does not.
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

public final class ForgeStandin {
    private static final String NAME = "forge.jar (Tolaria's stand-in for Forge)";
    private static final String USAGE = "usage: java -jar forge.jar daemon [-p PORT]";

    private ForgeStandin() {}

    public static void main(String[] args) throws Exception {
        String port = "17171";
        if (args.length == 3 && args[0].equals("daemon") && args[1].equals("-p")) {
            port = args[2];
        } else if (!(args.length == 1 && args[0].equals("daemon"))) {
            fail(2, "unsupported arguments " + List.of(args) + "; " + USAGE);
        }
        if (!port.matches("[0-9]{1,5}") || Integer.parseInt(port) > 65535) {
            fail(2, "-p " + port + " is not a TCP port; " + USAGE);
        }

        Properties profile = new Properties();
        File profileFile = new File("forge.profile.properties");
        if (profileFile.canRead()) {
            try (InputStream in = new FileInputStream(profileFile)) {
                profile.load(in);
            }
        }
        String home = System.getProperty("user.home");
        String userDir = dir(profile, "userDir", home + "/.forge");
        String cacheDir = dir(profile, "cacheDir", home + "/.cache/forge");
        String decksDir = dir(profile, "decksDir", userDir + "decks/");
        String decksConstructedDir = dir(profile, "decksConstructedDir", decksDir + "constructed/");
        // Forge creates these at start and writes its user data and caches there.
        for (String folder : List.of(userDir, cacheDir, cacheDir + "pics/cards/")) {
            File file = new File(folder);
            if (!file.isDirectory() && !file.mkdirs()) {
                System.err.println(NAME + ": cannot create " + folder);
            }
        }

        File program = new File(ForgeStandin.class.getProtectionDomain().getCodeSource().getLocation().toURI())
            .getParentFile();
        ProcessBuilder emulation = new ProcessBuilder(
            "python3", "-m", "tolaria.cli", "daemon", "--dialect", "forge", "--host", "0.0.0.0",
            "--port", port, "--decks", decksConstructedDir, "--metrics-port", "0")
            .inheritIO();
        emulation.environment().put("PYTHONPATH", new File(program, "emulation").getPath());
        emulation.environment().put("PYTHONUNBUFFERED", "1");
        System.err.println(NAME + ": Tolaria's Forge-dialect emulation on port " + port + ", decks from "
            + decksConstructedDir + " (decksConstructedDir of " + profileFile.getAbsolutePath() + ")");
        Process child;
        try {
            child = emulation.start();
        } catch (IOException e) {
            fail(1, "cannot start python3 (" + e.getMessage() + "): the emulation needs python3 on PATH,"
                + " which the stand-in of JAVA_IMAGE carries and a real JRE image does not");
            return;
        }
        // SIGTERM to the JVM (a pod being deleted) reaches the emulation as SIGTERM: it drains its games.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            child.destroy();
            try {
                if (!child.waitFor(60, TimeUnit.SECONDS)) {
                    child.destroyForcibly();
                }
            } catch (InterruptedException e) {
                child.destroyForcibly();
            }
        }));
        System.exit(child.waitFor());
    }

    // As ForgeProfileProperties.getDir: the value trimmed (empty means the default), made absolute,
    // ending in a slash.
    private static String dir(Properties profile, String key, String fallback) {
        String value = profile.getProperty(key, fallback).trim();
        if (value.isEmpty()) {
            value = fallback;
        }
        value = new File(value).getAbsolutePath();
        return value.endsWith(File.separator) ? value : value + File.separator;
    }

    private static void fail(int status, String message) {
        System.err.println(NAME + ": " + message);
        System.exit(status);
    }
}
