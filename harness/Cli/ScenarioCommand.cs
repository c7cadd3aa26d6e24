using System.CommandLine;
using System.Globalization;
using Dtx.Harness.Engine;
using Dtx.Harness.Implementations;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Reporting;
using Dtx.Harness.Scenarios;
using Dtx.Shared.Failpoints;
using Dtx.Shared.Mutants;
using Spectre.Console;

namespace Dtx.Harness.Cli;

/// <summary><c>harness scenario NAME</c>: run one scenario against the selected implementations and judge it.</summary>
public static class ScenarioCommand
{
    public const int ExitPass = 0, ExitFail = 1, ExitBadInput = 2, ExitInternal = 3, ExitInterrupted = 130;

    public static Command Create()
    {
        var name = new Argument<string?>("name")
        {
            Description = $"a scenario under scenarios/ (see 'scenarios') or the path of a .yaml file",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var all = new Option<bool>("--all") { Description = "run every scenario under scenarios/ in turn (the nightly catalogue); exit 1 when any verdict fails" };
        var impl = new Option<string>("--impl") { Description = $"which implementation to run: {string.Join(", ", ImplementationCatalog.Names)} or all", DefaultValueFactory = _ => "all" };
        impl.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (value != "all" && ImplementationCatalog.Find(value) is null)
                r.AddError($"--impl: unknown implementation '{value}'; use {string.Join(", ", ImplementationCatalog.Names)} or all");
        });
        var seed = SeedOption();
        var rate = new Option<double?>("--rate")
        {
            Description = "orders per second (open model); overrides the scenario's load.rate (a constant-rate load only)",
            // Parsed here, not by the library: its own parser throws on a non-number instead of reporting it.
            CustomParser = r => double.TryParse(r.Tokens[0].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && value > 0
                ? value
                : Error<double?>(r.AddError, $"--rate: '{r.Tokens[0].Value}' is not a positive number of orders per second", null),
        };
        var duration = new Option<TimeSpan?>("--duration")
        {
            Description = "how long the load runs, e.g. 20s or 1m; overrides the scenario's load.duration (a load of phases is stretched or shrunk in proportion)",
            CustomParser = r => ParseDuration(r.Tokens[0].Value, "--duration", r.AddError),
        };
        var postgres = PostgresOption();
        var amqp = AmqpOption();
        var toxiproxy = new Option<string?>("--toxiproxy") { Description = "make network faults through this Toxiproxy server's API (http://host:8474) instead of the embedded proxy" };
        toxiproxy.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string?>();
            if (value is not null && !(Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
                r.AddError($"--toxiproxy: '{value}' is not an http:// URL");
        });
        var reports = new Option<string?>("--reports") { Description = "folder that receives the run folder (default: reports/ of this repository)" };
        var keep = new Option<bool>("--keep-databases") { Description = "on external servers, keep this run's databases and queues for inspection" };
        var proxyAll = new Option<bool>("--proxy-all") { Description = "put every link through the fault proxy, not only the links the scenario faults: shows what the proxy costs" };
        var mutant = new Option<string?>("--mutant") { Description = "run the implementation with this safeguard switched off ('mutants --list' shows them); it runs alone, and is judged strictly" };
        mutant.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } value && MutantCatalog.Find(value) is null)
                r.AddError($"--mutant: unknown mutant '{value}'; known: {string.Join(", ", MutantCatalog.All.Select(m => m.Name))}");
        });

        var command = new Command("scenario", "Run a scenario: load, faults, drain, then check every invariant. Exit 0 when every run passes, 1 when one fails, 2 for bad input.")
        {
            name, all, impl, seed, rate, duration, postgres, amqp, toxiproxy, reports, keep, mutant, proxyAll,
        };
        command.SetAction(async (parse, ct) =>
        {
            var reportsRoot = parse.GetValue(reports) ?? ReportsFolder.Default();
            if (ReportsFolder.Unwritable(reportsRoot) is { } why) return Program.BadInput($"--reports: cannot write run folders to {reportsRoot}: {why}");
            var scenarioName = parse.GetValue(name);
            var runAll = parse.GetValue(all);
            if (runAll && scenarioName is not null) return Program.BadInput("give a scenario name or --all, not both");
            if (!runAll && scenarioName is null) return Program.BadInput("which scenario? give its name ('./run.sh scenarios' lists them) or --all");
            List<Scenario> scenarios;
            try
            {
                // Every file is read before anything starts: a broken one is bad input, not a failure an hour in.
                scenarios = runAll ? ScenarioCatalog.Names().Select(ScenarioCatalog.Find).ToList() : [ScenarioCatalog.Find(scenarioName!)];
            }
            catch (ScenarioException e)
            {
                return Program.BadInput(e.Message);
            }
            var implName = parse.GetValue(impl)!;
            var mutantName = parse.GetValue(mutant);
            if (mutantName is not null)
            {
                // A mutant belongs to one implementation: it runs alone, so --impl can only confirm it.
                var owner = MutantCatalog.Find(mutantName)!.Implementation;
                if (implName != "all" && implName != owner) return Program.BadInput($"--mutant {mutantName} is a mutant of {owner}, not of {implName}");
                implName = owner;
            }
            var options = new RunOptions(
                implName == "all" ? ImplementationCatalog.All : [ImplementationCatalog.Find(implName)!],
                parse.GetValue(seed),
                parse.GetValue(rate),
                parse.GetValue(duration),
                reportsRoot,
                parse.GetValue(postgres),
                parse.GetValue(amqp),
                parse.GetValue(keep),
                parse.GetValue(toxiproxy),
                scenarioName,
                mutantName,
                parse.GetValue(proxyAll));
            // Before any server starts: with --all, the last scenario's problem would otherwise show half an hour in.
            if (scenarios.Select(s => ScenarioRunner.Problem(s, options)).FirstOrDefault(p => p is not null) is { } problem)
                return Program.BadInput(problem);
            if (!runAll) return (await RunAsync(scenarios[0], options, ct)).Code;

            // One set of servers for the whole catalogue: each scenario gets fresh databases and queues on them.
            var started = await StartSharedAsync(options, ct);
            if (started.Exit is { } early) return early;
            await using var servers = started.Servers!;
            var outcomes = new List<(Scenario Scenario, int Exit, string Verdicts)>();
            foreach (var scenario in scenarios)
            {
                AnsiConsole.MarkupLine($"[bold]— {Markup.Escape(scenario.Name)} ({outcomes.Count + 1} of {scenarios.Count})[/]");
                var exit = await RunAsync(scenario, options with { ScenarioSource = scenario.Name }, ct, servers);
                if (exit.Code is ExitBadInput or ExitInterrupted) return exit.Code;
                outcomes.Add((scenario, exit.Code, exit.Verdicts));
            }
            var table = new Table().Title("scenario --all").AddColumn("scenario").AddColumn("verdicts").AddColumn("exit");
            foreach (var (scenario, code, verdicts) in outcomes)
                table.AddRow(Markup.Escape(scenario.Name), Markup.Escape(verdicts), code == ExitPass ? "[green]0[/]" : $"[red]{code}[/]");
            AnsiConsole.Write(table);
            var failed = outcomes.Count(o => o.Exit != ExitPass);
            AnsiConsole.MarkupLine(failed == 0 ? $"[green]all {outcomes.Count} scenarios passed[/]" : $"[red]{failed} of {outcomes.Count} scenarios failed[/]");
            return failed == 0 ? ExitPass : ExitFail;
        });
        return command;
    }

    /// <summary>
    /// Starts the servers several scenarios share; bad input (an unreachable external server, a missing package) and
    /// Ctrl+C come back as the exit code instead, said in one line.
    /// </summary>
    internal static async Task<(RunServers? Servers, int? Exit)> StartSharedAsync(RunOptions options, CancellationToken ct)
    {
        var workDir = ScenarioRunner.TempFolder("shared");
        try
        {
            return (await RunServers.StartAsync(options, workDir, Path.Combine(workDir, "logs"), ct), null);
        }
        catch (Exception e) when (e is MissingDependencyException or InfrastructureUnavailableException or ArgumentException)
        {
            return (null, Program.BadInput(e.Message));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Console.Error.WriteLine("interrupted: servers stopped");
            return (null, ExitInterrupted);
        }
    }

    /// <summary>Runs one scenario and prints its summary; returns the exit code and its verdicts in one line.</summary>
    private static async Task<(int Code, string Verdicts)> RunAsync(Scenario scenario, RunOptions options, CancellationToken ct, RunServers? shared = null)
    {
        var console = AnsiConsole.Console;
        var lines = new ConsoleLines(console);
        var runner = new ScenarioRunner(options, lines.Say, new ProgressSink(lines.Progress, lines.ProgressEvery));
        try
        {
            var result = await runner.RunAsync(scenario, ct, shared);
            await RunFolder.WriteAsync(runner.RunDirectory!, result, CancellationToken.None);
            ConsoleSummary.Print(console, result, runner.RunDirectory!);
            var verdicts = string.Join(", ", result.Runs.Select(r => $"{r.Implementation} {Faults.Words.Of(r.Verdict)}"));
            return (result.Passed ? ExitPass : ExitFail, verdicts);
        }
        catch (Exception e) when (e is MissingDependencyException or InfrastructureUnavailableException or ArgumentException or ScenarioException)
        {
            RemoveIfEmpty(runner.RunDirectory);
            return (Program.BadInput(e.Message), "bad input");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Console.Error.WriteLine("interrupted: servers and services stopped");
            return (ExitInterrupted, "interrupted");
        }
        catch (Exception e)
        {
            var log = Path.Combine(runner.RunDirectory ?? Path.GetTempPath(), "harness-error.log");
            await File.WriteAllTextAsync(log, e.ToString(), CancellationToken.None);
            Console.Error.WriteLine($"error: {e.Message} (details in {log})");
            return (ExitInternal, "error: " + e.Message);
        }
    }

    /// <summary>A run folder that bad input stopped before anything was written: it would only litter reports/.</summary>
    private static void RemoveIfEmpty(string? runDirectory)
    {
        try
        {
            if (runDirectory is not null && Directory.Exists(runDirectory) && Directory.GetFiles(runDirectory, "*", SearchOption.AllDirectories).Length == 0)
                Directory.Delete(runDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary><c>--seed</c>, shared by every command that runs scenarios.</summary>
    internal static Option<int> SeedOption() => new("--seed")
    {
        Description = "seed of the orders and of every random choice; the same seed gives the same orders",
        DefaultValueFactory = _ => 42,
        CustomParser = r => int.TryParse(r.Tokens[0].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : Error(r.AddError, $"--seed: '{r.Tokens[0].Value}' is not a whole number", 0),
    };

    internal static Option<string?> PostgresOption()
    {
        var postgres = new Option<string?>("--postgres") { Description = "use this PostgreSQL server (an Npgsql connection string with rights to create databases) instead of starting one" };
        // Checked before anything starts, so that a typo costs no run folder and no server start.
        postgres.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } value && ExternalPostgres.Problem(value, out _) is { } problem)
                r.AddError($"--postgres: {problem}");
        });
        return postgres;
    }

    internal static Option<string?> AmqpOption()
    {
        var amqp = new Option<string?>("--amqp") { Description = "use this RabbitMQ server (amqp://user:pass@host:port/vhost) instead of starting one" };
        amqp.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string?>();
            if (value is not null && !(Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "amqp" or "amqps" && uri.Host.Length > 0))
                r.AddError($"--amqp: '{value}' is not an amqp:// URI with a host, e.g. amqp://guest:guest@127.0.0.1:5672/");
        });
        return amqp;
    }

    private static T Error<T>(Action<string> addError, string message, T placeholder)
    {
        addError(message);
        return placeholder;
    }

    internal static TimeSpan? ParseDuration(string text, string option, Action<string> addError)
    {
        try
        {
            var value = FailpointSpec.ParseDuration(text);
            if (value > TimeSpan.Zero) return value;
            addError($"{option} must be longer than zero");
        }
        catch (FormatException e)
        {
            addError($"{option}: {e.Message}");
        }
        return null;
    }
}

/// <summary>Where run folders go by default: reports/ of the repository the harness was built from, else of the current folder.</summary>
public static class ReportsFolder
{
    public static string Default()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Harness.sln"))) return Path.Combine(dir.FullName, "reports");
        return Path.Combine(Environment.CurrentDirectory, "reports");
    }

    /// <summary>Null when run folders can be made in <paramref name="folder"/>; otherwise why not, in one line. Checked before any server starts.</summary>
    public static string? Unwritable(string folder)
    {
        if (string.IsNullOrWhiteSpace(folder)) return "no folder given";
        if (folder.Any(char.IsControl)) return "a folder name cannot hold control characters";
        try
        {
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".write-test-{Guid.NewGuid():N}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            return e.Message;
        }
    }
}
