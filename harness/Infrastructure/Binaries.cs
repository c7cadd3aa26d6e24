namespace Dtx.Harness.Infrastructure;

/// <summary>
/// Where the installed Debian packages put the binaries the harness runs. Every lookup fails with a
/// <see cref="MissingDependencyException"/> naming the package, so a missing install reads as an instruction,
/// not as a stack trace.
/// </summary>
internal static class Binaries
{
    private const string PostgresRoot = "/usr/lib/postgresql";
    private const int PreferredPostgresMajor = 15;

    public static string Setsid => Require("/usr/bin/setsid", "setsid", "util-linux");
    public static string Setpriv => Require("/usr/bin/setpriv", "setpriv", "util-linux");
    public static string Shell => Require("/bin/sh", "/bin/sh", "dash");
    public static string Bash => Require("/bin/bash", "bash", "bash");
    public static string RabbitMqServer => Require("/usr/lib/rabbitmq/bin/rabbitmq-server", "RabbitMQ", "rabbitmq-server");

    // epmd ships with erlang-base, which rabbitmq-server depends on.
    public static string Epmd => Require("/usr/bin/epmd", "The Erlang port mapper", "erlang-base");

    /// <summary>
    /// The bin directory of PostgreSQL 15 if installed, else of the newest installed major version
    /// (the harness needs nothing version specific beyond DROP DATABASE … WITH (FORCE), which is 13+).
    /// </summary>
    public static string PostgresBinDirectory()
    {
        string preferred = Path.Combine(PostgresRoot, PreferredPostgresMajor.ToString(), "bin");
        if (File.Exists(Path.Combine(preferred, "initdb"))) return preferred;

        string? newest = Directory.Exists(PostgresRoot)
            ? Directory.GetDirectories(PostgresRoot)
                .Where(dir => int.TryParse(Path.GetFileName(dir), out int major) && major >= 13)
                .Select(dir => Path.Combine(dir, "bin"))
                .Where(bin => File.Exists(Path.Combine(bin, "initdb")) && File.Exists(Path.Combine(bin, "postgres")))
                .OrderByDescending(bin => int.Parse(Path.GetFileName(Path.GetDirectoryName(bin)!)))
                .FirstOrDefault()
            : null;
        return newest ?? throw new MissingDependencyException(
            $"PostgreSQL {PreferredPostgresMajor} is not installed (no {Path.Combine(preferred, "initdb")}): " +
            $"install it with `apt-get install postgresql-{PreferredPostgresMajor}`");
    }

    /// <summary>pgbench from PostgreSQL's bin directory or the PATH; null when neither has it (it is optional).</summary>
    public static string? Pgbench()
    {
        try
        {
            var beside = Path.Combine(PostgresBinDirectory(), "pgbench");
            if (File.Exists(beside)) return beside;
        }
        catch (MissingDependencyException)
        {
        }
        return File.Exists("/usr/bin/pgbench") ? "/usr/bin/pgbench" : null;
    }

    private static string Require(string path, string what, string package) =>
        File.Exists(path)
            ? path
            : throw new MissingDependencyException(
                $"{what} is not installed (no {path}): install it with `apt-get install {package}`");
}
