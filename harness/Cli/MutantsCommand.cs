using System.CommandLine;
using Dtx.Harness.Engine;
using Dtx.Harness.Implementations;
using Dtx.Harness.Infrastructure;
using Dtx.Harness.Scenarios;
using Dtx.Shared.Mutants;
using Spectre.Console;

namespace Dtx.Harness.Cli;

/// <summary>
/// <c>harness mutants</c>: proves the catalogue catches a broken implementation. Each mutant switches off one
/// safeguard of a reference implementation and runs the scenarios meant to catch it; the command exits 0 only when
/// every mutant was caught — an invariant violated, with example order ids.
/// </summary>
public static class MutantsCommand
{
    public static Command Create()
    {
        var only = new Option<string[]>("--only")
        {
            Description = "run just these mutants (names as 'mutants --list' shows them; repeat the option or separate with commas)",
            AllowMultipleArgumentsPerToken = true,
        };
        var list = new Option<bool>("--list") { Description = "list the mutants and the scenarios meant to catch each, without running anything" };
        var seed = ScenarioCommand.SeedOption();
        var reports = new Option<string?>("--reports") { Description = "folder that receives the run folders (default: reports/ of this repository)" };
        var postgres = ScenarioCommand.PostgresOption();
        var amqp = ScenarioCommand.AmqpOption();
        var command = new Command("mutants", "Run each mutant (a reference implementation with one safeguard switched off) against the scenarios meant to catch it. Exit 0 only when every mutant is caught.")
        {
            only, list, seed, reports, postgres, amqp,
        };
        command.SetAction(async (parse, ct) =>
        {
            var chosen = MutantCatalog.All.ToList();
            var names = (parse.GetValue(only) ?? []).SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
            // "--only ''" naming nothing must not quietly mean every mutant: a 15-minute run nobody asked for.
            if (names.Count == 0 && parse.GetResult(only) is { Implicit: false })
                return Program.BadInput($"--only: name at least one mutant; known: {string.Join(", ", MutantCatalog.All.Select(m => m.Name))}");
            if (names.Count > 0)
            {
                if (names.FirstOrDefault(n => MutantCatalog.Find(n) is null) is { } unknown)
                    return Program.BadInput($"--only: unknown mutant '{unknown}'; known: {string.Join(", ", MutantCatalog.All.Select(m => m.Name))}");
                chosen = MutantCatalog.All.Where(m => names.Contains(m.Name)).ToList();
            }
            if (parse.GetValue(list))
            {
                PrintList(chosen);
                return ScenarioCommand.ExitPass;
            }
            var reportsRoot = parse.GetValue(reports) ?? ReportsFolder.Default();
            if (ReportsFolder.Unwritable(reportsRoot) is { } why) return Program.BadInput($"--reports: cannot write run folders to {reportsRoot}: {why}");
            var options = new RunOptions(ImplementationCatalog.All, parse.GetValue(seed), null, null, reportsRoot,
                parse.GetValue(postgres), parse.GetValue(amqp), KeepDatabases: false);
            var console = AnsiConsole.Console;
            var started = await ScenarioCommand.StartSharedAsync(options, ct);
            if (started.Exit is { } early) return early;
            await using var servers = started.Servers!;
            var runner = new MutantRunner(options, servers, line => console.MarkupLine($"[grey]{DateTime.Now:HH:mm:ss}[/] {Markup.Escape(line)}"));
            var outcomes = new List<MutantOutcome>();
            try
            {
                foreach (var mutant in chosen)
                {
                    console.MarkupLine($"[bold]— mutant {Markup.Escape(mutant.Name)} ({outcomes.Count + 1} of {chosen.Count})[/]");
                    outcomes.Add(await runner.RunAsync(mutant, ct));
                }
            }
            catch (Exception e) when (e is MissingDependencyException or InfrastructureUnavailableException or ScenarioException)
            {
                return Program.BadInput(e.Message);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                Console.Error.WriteLine("interrupted: servers and services stopped");
                return ScenarioCommand.ExitInterrupted;
            }
            PrintOutcomes(console, outcomes);
            var missed = outcomes.Count(o => !o.Caught && !o.Inconclusive);
            var inconclusive = outcomes.Count(o => o.Inconclusive);
            if (missed + inconclusive == 0) console.MarkupLine($"[green]all {outcomes.Count} mutants caught[/]");
            if (missed > 0) console.MarkupLine($"[red]{missed} of {outcomes.Count} mutants NOT caught: a gap in the catalogue[/]");
            if (inconclusive > 0) console.MarkupLine($"[red]{inconclusive} of {outcomes.Count} mutants untested: the real implementation failed their scenarios too (see the control runs)[/]");
            return missed + inconclusive == 0 ? ScenarioCommand.ExitPass : ScenarioCommand.ExitFail;
        });
        return command;
    }

    /// <summary>One line a mutant, like <c>scenarios</c>: grep-able, and never wrapped by the width of a terminal.</summary>
    private static void PrintList(IReadOnlyList<Mutant> mutants)
    {
        foreach (var m in mutants)
            Console.WriteLine($"{m.Name,-28} {m.Implementation,-13} caught by {string.Join(", ", MutantRunner.Plans.GetValueOrDefault(m.Name)?.Scenarios ?? []),-45} {m.Safeguard}");
    }

    private static void PrintOutcomes(IAnsiConsole console, IReadOnlyList<MutantOutcome> outcomes)
    {
        var table = new Table().Title("mutants").AddColumn("mutant").AddColumn("implementation").AddColumn("caught by").AddColumn("invariant violated").AddColumn("examples");
        foreach (var o in outcomes)
        {
            table.AddRow(
                Markup.Escape(o.Mutant.Name),
                o.Mutant.Implementation,
                o.Caught ? $"[green]{Markup.Escape(o.CaughtBy!)}[/]"
                : o.Inconclusive ? "[red]untested: control failed[/]"
                : $"[red]NOT caught{Markup.Escape(o.Tried.Count > 0 ? " by " + string.Join(", ", o.Tried) : "")}[/]",
                Markup.Escape(string.Join(", ", o.Violated.Select(v => $"{v.Name} ({v.Violations})"))),
                Markup.Escape(o.Caught ? string.Join(", ", o.Violated[0].Examples.Take(3)) : o.Problem ?? ""));
        }
        console.Write(table);
    }
}
