using Dtx.Shared.Mutants;
using Dtx.Tests.Support;
using Xunit;

namespace Dtx.Tests.Scenarios;

/// <summary>Bad input gets one clear line on stderr and exit code 2, never a stack trace.</summary>
public sealed class CliTests
{
    [Theory]
    [InlineData("unknown scenario 'no-such-scenario'", "scenario", "no-such-scenario")]
    [InlineData("--rate: '0' is not a positive number", "scenario", "crash-after-commit", "--rate", "0")]
    [InlineData("--rate: 'notanumber' is not a positive number of orders per second", "scenario", "crash-after-commit", "--rate", "notanumber")]
    [InlineData("--seed: 'abc' is not a whole number", "scenario", "crash-after-commit", "--seed", "abc")]
    [InlineData("--reports: cannot write run folders to /proc/no-such-dir", "scenario", "crash-after-commit", "--reports", "/proc/no-such-dir")]
    [InlineData("which scenario?", "scenario")]
    [InlineData("give a scenario name or --all, not both", "scenario", "--all", "crash-after-commit")]
    [InlineData("--toxiproxy: 'ftp://x' is not an http:// URL", "scenario", "crash-after-commit", "--toxiproxy", "ftp://x")]
    [InlineData("--duration", "scenario", "crash-after-commit", "--duration", "forever")]
    [InlineData("unknown implementation 'two-phase'", "scenario", "crash-after-commit", "--impl", "two-phase")]
    [InlineData("is not an amqp:// URI", "scenario", "crash-after-commit", "--amqp", "http://127.0.0.1:1")]
    [InlineData("Unrecognized command or argument", "scenario", "crash-after-commit", "--frobnicate")]
    [InlineData("Unrecognized command or argument 'maybe'", "scenario", "crash-after-commit", "--keep-databases", "maybe")]
    [InlineData("--postgres: 'notaconnstring' is not a PostgreSQL connection string", "scenario", "crash-after-commit", "--postgres", "notaconnstring")]
    [InlineData("--postgres: the PostgreSQL connection string must be key=value pairs", "scenario", "crash-after-commit", "--postgres", "postgres://u@h/db")]
    [InlineData("--postgres: the PostgreSQL connection string names no Host", "scenario", "crash-after-commit", "--postgres", "Username=postgres")]
    [InlineData("--mutant: unknown mutant 'nope'", "scenario", "crash-after-commit", "--mutant", "nope")]
    [InlineData("--mutant ignore-fence is a mutant of half-message, not of local-table", "scenario", "crash-after-commit", "--mutant", "ignore-fence", "--impl", "local-table")]
    [InlineData("--only: unknown mutant 'nope'", "mutants", "--only", "nope")]
    [InlineData("--seed: 'x' is not a whole number", "mutants", "--seed", "x")]
    [InlineData("--reports: cannot write run folders to /proc/no-such-dir", "mutants", "--reports", "/proc/no-such-dir")]
    [InlineData("--postgres: 'x' is not a PostgreSQL connection string", "mutants", "--postgres", "x")]
    [InlineData("--amqp: 'http://h' is not an amqp:// URI", "mutants", "--amqp", "http://h")]
    [InlineData("--step must be longer than zero", "bench", "--step", "0s")]
    [InlineData("--measure: 'soon' is not a duration", "bench", "--measure", "soon")]
    [InlineData("--start-rate: 'x' is not a rate from 1 to 1000000 orders per second", "bench", "--start-rate", "x")]
    [InlineData("--max-rate: '0' is not a rate", "bench", "--max-rate", "0")]
    [InlineData("--start-rate (100) is above --max-rate (50)", "bench", "--start-rate", "100", "--max-rate", "50")]
    [InlineData("--concurrency: '0' is not a whole number from 1 to 256", "bench", "--concurrency", "0")]
    [InlineData("--start-rate × --step offers 2 orders a step; a step needs at least 10", "bench", "--start-rate", "1", "--step", "2s")]
    [InlineData("--max-rate × the longer of --step and --measure offers 60,000,000 orders a step", "bench", "--max-rate", "1000000", "--measure", "60s")]
    [InlineData("--impl: unknown implementation 'nope'", "bench", "--impl", "nope")]
    [InlineData("--clients: '0' is not a list of whole numbers from 1 to 500, e.g. 8 or 4,16", "bench", "--clients", "0")]
    [InlineData("--clients: '4,many' is not a list of whole numbers", "bench", "--clients", "4,many")]
    [InlineData("--clients: '1,2,3,4,5' names 5 closed models; at most 4", "bench", "--clients", "1,2,3,4,5")]
    [InlineData("--clients", "bench", "--clients", "4", "--clients", "16")]
    [InlineData("--reports: cannot write run folders to /proc/no-such-dir", "bench", "--reports", "/proc/no-such-dir")]
    [InlineData("Unrecognized command or argument 'bogus'", "bogus")]
    [InlineData("give a command: scenario, mutants, bench, report, scenarios or proxy", "--bogus")]
    [InlineData("no scenario file at @/tmp", "scenario", "@/tmp")] // no response files: '@' reads nothing
    [InlineData("--only: name at least one mutant", "mutants", "--only", "")]
    [InlineData("--start-rate ÷ 2 × --measure offers 0 orders to measure", "bench", "--measure", "1ms")]
    [InlineData("no folder given", "scenario", "crash-after-commit", "--reports", "")]
    [InlineData("--amqp: 'amqp://' is not an amqp:// URI with a host", "scenario", "crash-after-commit", "--amqp", "amqp://")]
    [InlineData("the PostgreSQL connection string's Port must be from 1 to 65535, not 99999", "scenario", "crash-after-commit", "--postgres", "Host=x;Port=99999")]
    [InlineData("chaos-mix with these options: the ", "scenario", "--all", "--duration", "10s")]
    [InlineData("--listen: cannot listen on '192.0.2.1:8474'", "proxy", "--listen", "192.0.2.1:8474")]
    // The hidden command every service process runs: a person trying it by hand gets the same one line.
    [InlineData("'--http-port' has no value", "service", "local-table", "participant", "--http-port")]
    [InlineData("--http-port: 'abc' is not a whole number from 1 to 65535", "service", "local-table", "participant", "--http-port", "abc", "--db", "Host=h", "--amqp", "amqp://h/")]
    [InlineData("--db is required", "service", "local-table", "participant", "--http-port", "5000", "--amqp", "amqp://h/")]
    [InlineData("--refuse-share: 'abc' is not a share from 0 to 1", "service", "local-table", "participant", "--http-port", "5000", "--db", "Host=h", "--amqp", "amqp://h/", "--refuse-share", "abc")]
    [InlineData("--http-port is given twice", "service", "local-table", "participant", "--http-port", "5000", "--http-port", "5001")]
    [InlineData("--mutant: local-table has no mutant 'bogus'", "service", "local-table", "participant", "--http-port", "5000", "--db", "Host=h", "--amqp", "amqp://h/", "--mutant", "bogus")]
    [InlineData("--failpoints: ", "service", "local-table", "participant", "--http-port", "5000", "--db", "Host=h", "--amqp", "amqp://h/", "--failpoints", "participant.after-commit=bogus")]
    [InlineData("--failpoints: ", "service", "local-table", "participant", "--http-port", "5000", "--db", "Host=h", "--amqp", "amqp://h/", "--failpoints", "no.such-step=crash@once")]
    [InlineData("--max-checks: 'x' is not a whole number from 1 to 1000", "service", "half-message", "txbroker", "--http-port", "5000", "--db", "Host=h", "--amqp", "amqp://h/", "--max-checks", "x")]
    [InlineData("--txbroker: 'nope' is not an absolute http:// URL", "service", "half-message", "initiator", "--http-port", "5000", "--db", "Host=h", "--amqp", "amqp://h/", "--txbroker", "nope")]
    [InlineData("/no/such/run: cannot render its result.json", "report", "/no/such/run")]
    [InlineData("--against: no folder given", "report", "/no/such/run", "--against", "")]
    public async Task Bad_input_is_one_line_and_exit_code_2(string expected, params string[] args)
    {
        var outcome = await HarnessCli.RunAsync(TimeSpan.FromSeconds(60), args);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Contains(expected, outcome.Stderr);
        Assert.Single(outcome.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain("   at ", outcome.Stderr);
        Assert.DoesNotContain("System.", outcome.Stderr); // in the user's words, never a .NET type name
    }

    [Fact]
    public async Task An_unreachable_external_server_is_bad_input_too()
    {
        var outcome = await HarnessCli.RunAsync(TimeSpan.FromSeconds(60),
            "scenario", "crash-after-commit", "--postgres", "Host=127.0.0.1;Port=1;Username=postgres;Timeout=2", "--reports", Path.GetTempPath());

        Assert.Equal(2, outcome.ExitCode);
        Assert.Contains("127.0.0.1", outcome.Stderr);
        Assert.DoesNotContain("   at ", outcome.Stderr);
    }

    [Fact]
    public async Task Rate_does_not_apply_to_a_load_of_phases_and_says_what_would()
    {
        var file = Path.Combine(Path.GetTempPath(), $"dtx-phases-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, "name: phased\nload:\n  phases:\n    - { inject: 10, during: 3s }\n    - { keep-constant: 2, during: 3s }\n");
        try
        {
            var outcome = await HarnessCli.RunAsync(TimeSpan.FromSeconds(60), "scenario", file, "--rate", "20");

            Assert.Equal(2, outcome.ExitCode);
            Assert.Contains("phased: --rate sets a constant rate, and this scenario's load has phases (inject 10/s for 3s; then keep-constant 2 clients for 3s); leave --rate out, or use --duration", outcome.Stderr);
            Assert.Single(outcome.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Mutants_are_listed_with_the_scenarios_meant_to_catch_them()
    {
        var outcome = await HarnessCli.RunAsync(TimeSpan.FromSeconds(60), "mutants", "--list");

        Assert.Equal(0, outcome.ExitCode);
        Assert.All(MutantCatalog.All, m => Assert.Contains(m.Name, outcome.Stdout));
        Assert.Contains("crash-participant-after-commit", outcome.Stdout);
    }

    [Fact]
    public async Task Scenarios_are_listed_with_their_description()
    {
        var outcome = await HarnessCli.RunAsync(TimeSpan.FromSeconds(60), "scenarios");

        Assert.Equal(0, outcome.ExitCode);
        Assert.Contains("crash-after-commit", outcome.Stdout);
    }
}
