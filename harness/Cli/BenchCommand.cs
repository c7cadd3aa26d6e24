using System.CommandLine;
using System.Globalization;
using Dtx.Harness.Bench;
using Dtx.Harness.Implementations;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Load;
using Dtx.Harness.Reporting;
using Spectre.Console;

namespace Dtx.Harness.Cli;

/// <summary><c>harness bench</c>: how fast each implementation goes, and what an order costs, as ratios to ceilings measured in the same run.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var impl = new Option<string>("--impl") { Description = $"which implementation to measure: {string.Join(", ", ImplementationCatalog.Names)} or all", DefaultValueFactory = _ => "all" };
        impl.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (value != "all" && ImplementationCatalog.Find(value) is null)
                r.AddError($"--impl: unknown implementation '{value}'; use {string.Join(", ", ImplementationCatalog.Names)} or all");
        });
        var seed = ScenarioCommand.SeedOption();
        var step = DurationOption("--step", "8s", "how long each step of the rate search offers its rate");
        var measure = DurationOption("--measure", "15s", "how long the ceilings, the highest sustained rate and half of it are measured");
        var p99 = DurationOption("--p99", "500ms", "a step is sustained only while its p99 end-to-end latency (request to the participant's commit) stays within this");
        var startRate = RateOption("--start-rate", 50, "the first rate the search offers (orders/s); it doubles from there");
        var maxRate = RateOption("--max-rate", 6400, "the highest rate the search offers (orders/s)");
        var concurrency = new Option<int>("--concurrency")
        {
            Description = "connections of the raw-SQL ceiling and channels of the publish ceiling",
            DefaultValueFactory = _ => 8,
            CustomParser = r => int.TryParse(r.Tokens[0].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 256
                ? n
                : Fail(r.AddError, $"--concurrency: '{r.Tokens[0].Value}' is not a whole number from 1 to 256", 0),
        };
        var clients = new Option<IReadOnlyList<int>>("--clients")
        {
            Description = $"after the search, also measure a closed model (keep-constant) of this many clients for --measure, e.g. 8 or 4,16 (at most {BenchOptions.MaxClosedModels}): the orders/s it carries; its latencies are reported apart, since a closed model slows down with the system",
            DefaultValueFactory = _ => [],
            // One value, a comma-separated list: a second --clients is an error, not a value quietly dropped.
            Arity = ArgumentArity.ExactlyOne,
            CustomParser = r =>
            {
                var text = r.Tokens[0].Value;
                var counts = text.Split(',').Select(t => int.TryParse(t.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= LoadPhase.MaxClients ? n : 0).ToList();
                if (counts.Count > BenchOptions.MaxClosedModels)
                    return Fail<IReadOnlyList<int>>(r.AddError, $"--clients: '{text}' names {counts.Count} closed models; at most {BenchOptions.MaxClosedModels}", []);
                return counts.Contains(0)
                    ? Fail<IReadOnlyList<int>>(r.AddError, $"--clients: '{text}' is not a list of whole numbers from 1 to {LoadPhase.MaxClients:N0}, e.g. 8 or 4,16", [])
                    : counts.Distinct().ToList();
            },
        };
        var reports = new Option<string?>("--reports") { Description = "folder that receives the bench's run folder (default: reports/ of this repository)" };
        var postgres = ScenarioCommand.PostgresOption();
        var amqp = ScenarioCommand.AmqpOption();
        var command = new Command("bench", "Find each implementation's highest sustained order rate and its cost per order, as ratios to the raw-SQL and confirmed-publish ceilings measured in the same run.")
        {
            impl, seed, step, measure, p99, startRate, maxRate, concurrency, clients, reports, postgres, amqp,
        };
        command.SetAction(async (parse, ct) =>
        {
            var reportsRoot = parse.GetValue(reports) ?? ReportsFolder.Default();
            if (ReportsFolder.Unwritable(reportsRoot) is { } why) return Program.BadInput($"--reports: cannot write run folders to {reportsRoot}: {why}");
            if (parse.GetValue(startRate) > parse.GetValue(maxRate))
                return Program.BadInput($"--start-rate ({parse.GetValue(startRate)}) is above --max-rate ({parse.GetValue(maxRate)})");
            // A step too short for its rate sends no order at all, and an empty step would look sustained.
            if (parse.GetValue(startRate) * parse.GetValue(step).TotalSeconds < MinRequestsPerStep)
                return Program.BadInput($"--start-rate × --step offers {parse.GetValue(startRate) * parse.GetValue(step).TotalSeconds:0.#} orders a step; a step needs at least {MinRequestsPerStep}");
            // The measured rate is at least --start-rate, and half of it is measured too.
            if (parse.GetValue(startRate) / 2 * parse.GetValue(measure).TotalSeconds < MinRequestsPerStep)
                return Program.BadInput($"--start-rate ÷ 2 × --measure offers {parse.GetValue(startRate) / 2 * parse.GetValue(measure).TotalSeconds:0.#} orders to measure; a measurement needs at least {MinRequestsPerStep}");
            var longest = parse.GetValue(maxRate) * Math.Max(parse.GetValue(step).TotalSeconds, parse.GetValue(measure).TotalSeconds);
            if (longest > MaxRequestsPerStep)
                return Program.BadInput($"--max-rate × the longer of --step and --measure offers {longest:N0} orders a step; at most {MaxRequestsPerStep:N0}");
            var implName = parse.GetValue(impl)!;
            var options = new BenchOptions(
                implName == "all" ? ImplementationCatalog.All : [ImplementationCatalog.Find(implName)!],
                parse.GetValue(seed), parse.GetValue(step), parse.GetValue(measure), parse.GetValue(p99),
                parse.GetValue(startRate), parse.GetValue(maxRate), parse.GetValue(concurrency), reportsRoot,
                parse.GetValue(postgres), parse.GetValue(amqp), parse.GetValue(clients));
            var console = AnsiConsole.Console;
            var runner = new BenchRunner(options, line => console.MarkupLine($"[grey]{DateTime.Now:HH:mm:ss}[/] {Markup.Escape(line)}"));
            try
            {
                var result = await runner.RunAsync(ct);
                await File.WriteAllTextAsync(Path.Combine(runner.RunDirectory!, "result.json"), System.Text.Json.JsonSerializer.Serialize(result, ResultJson.Options), CancellationToken.None);
                await File.WriteAllTextAsync(Path.Combine(runner.RunDirectory!, "index.html"), BenchReport.Html(result), CancellationToken.None);
                await RunFolder.WriteIndexAboveAsync(runner.RunDirectory!, CancellationToken.None);
                BenchReport.Print(console, result);
                console.MarkupLine($"report: {Markup.Escape(Path.Combine(runner.RunDirectory!, "index.html"))}");
                return result.Runs.Any(r => r.Error is not null) ? ScenarioCommand.ExitFail : ScenarioCommand.ExitPass;
            }
            catch (Exception e) when (e is MissingDependencyException or InfrastructureUnavailableException or ArgumentException)
            {
                return Program.BadInput(e.Message);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                Console.Error.WriteLine("interrupted: servers and services stopped");
                return ScenarioCommand.ExitInterrupted;
            }
            catch (Exception e)
            {
                var log = Path.Combine(runner.RunDirectory ?? Path.GetTempPath(), "harness-error.log");
                await File.WriteAllTextAsync(log, e.ToString(), CancellationToken.None);
                Console.Error.WriteLine($"error: {e.Message} (details in {log})");
                return ScenarioCommand.ExitInternal;
            }
        });
        return command;
    }

    private const int MinRequestsPerStep = 10;

    private const int MaxRequestsPerStep = 10_000_000;

    private static Option<TimeSpan> DurationOption(string name, string fallback, string description) => new(name)
    {
        Description = $"{description} (default {fallback})",
        DefaultValueFactory = _ => Dtx.Shared.Failpoints.FailpointSpec.ParseDuration(fallback),
        CustomParser = r => ScenarioCommand.ParseDuration(r.Tokens[0].Value, name, r.AddError) ?? TimeSpan.Zero,
    };

    private static Option<double> RateOption(string name, double fallback, string description) => new(name)
    {
        Description = $"{description} (default {fallback})",
        DefaultValueFactory = _ => fallback,
        CustomParser = r => double.TryParse(r.Tokens[0].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && value >= 1 && value <= 1_000_000
            ? value
            : Fail(r.AddError, $"{name}: '{r.Tokens[0].Value}' is not a rate from 1 to 1000000 orders per second", 0.0),
    };

    private static T Fail<T>(Action<string> addError, string message, T placeholder)
    {
        addError(message);
        return placeholder;
    }
}
