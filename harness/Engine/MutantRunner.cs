using Dtx.Harness.Checking;
using Dtx.Harness.Implementations;
using Dtx.Harness.Scenarios;
using Dtx.Shared.Mutants;

namespace Dtx.Harness.Engine;

/// <summary>
/// What one mutant's runs showed: caught (a target invariant violated, with examples) and by which scenario; or not,
/// with one line per scenario tried. Inconclusive when no scenario could test it, because the real implementation did
/// not pass any of them either (the control runs): then the reference itself is failing, not the catalogue.
/// </summary>
public sealed record MutantOutcome(
    Mutant Mutant,
    bool Caught,
    string? CaughtBy,
    IReadOnlyList<InvariantResult> Violated,
    IReadOnlyList<string> Tried,
    string? Problem,
    IReadOnlyList<string> RunFolders,
    bool Inconclusive = false);

/// <summary>Where a mutant should be caught: the scenarios to try, likeliest first, and the invariants its safeguard protects.</summary>
public sealed record MutantPlan(IReadOnlyList<string> Scenarios, IReadOnlyList<string> Invariants);

/// <summary>
/// Runs each mutant — a reference implementation with one safeguard switched off — against the catalogue scenarios
/// that exist to catch it, until one does. A mutant counts as caught only when all of this holds, because a run that
/// fails for any other reason proves nothing about the safeguard:
/// <list type="bullet">
/// <item>an invariant that safeguard protects was violated, with example order ids, and the scenario does not expect
///   that implementation to violate it anyway;</item>
/// <item>every planned fault was injected and no service exited unplanned;</item>
/// <item>the process whose code the mutant changes logged <c>MUTANT name</c> at start;</item>
/// <item>the same scenario with the same seed, against the real implementation on the same servers (the control),
///   passed.</item>
/// </list>
/// </summary>
public sealed class MutantRunner(RunOptions options, RunServers servers, Action<string> say)
{
    /// <summary>
    /// Which scenarios should catch each mutant, and by which invariants. A mutant none of them catches is a gap in
    /// the catalogue: the fix is a scenario that catches it, never dropping the mutant.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, MutantPlan> Plans = new Dictionary<string, MutantPlan>
    {
        // The crash lands between the business commit and the separate outbox insert: the order is never sent.
        [MutantCatalog.OutboxAfterCommit] = new(["crash-after-commit"], [Checker.NoLostOrder]),
        // The redelivery after a crash before the ack is applied again: customer_spend counts it twice.
        [MutantCatalog.NoInboxDedupe] = new(["crash-participant-after-commit"], [Checker.ExactlyOnceEffect]),
        // Publishes that fail while RabbitMQ is down are never retried; the reply timeout is longer than the drain.
        [MutantCatalog.MarkBeforeConfirm] = new(["crash-broker-long-reply-timeout"], [Checker.NoLostOrder]),
        // Confirmed orders are purged from the queue, and nothing sends them again.
        [MutantCatalog.NoRepublish] = new(["message-loss"], [Checker.NoLostOrder]),
        // The frozen participant answers republished orders twice; the second rejection restocks again.
        [MutantCatalog.CompensateWithoutCas] = new(["pause-participant", "crash-after-reply"], [Checker.CompensatedExactlyOnce, Checker.StockConservation]),
        // A half with no local transaction behind it is committed: an order nobody paid for.
        [MutantCatalog.CheckBackBlindCommit] = new(["crash-after-prepare", "crash-broker-after-persist"], [Checker.NoPhantomOrder]),
        // A slow local transaction is told nothing of the rollback and commits: its order is never dispatched.
        [MutantCatalog.CheckBackUnfencedRollback] = new(["slow-local-transaction"], [Checker.NoLostOrder]),
        [MutantCatalog.IgnoreFence] = new(["slow-local-transaction"], [Checker.NoLostOrder]),
        // Out-of-stock orders were dispatched at prepare, before their rollback.
        [MutantCatalog.DispatchBeforeCommit] = new(["business-reject", "crash-before-commit"], [Checker.NoPhantomOrder]),
        [MutantCatalog.RollbackSentAsCommit] = new(["business-reject"], [Checker.NoPhantomOrder]),
        // The redispatch after a crash before the mark carries a new id, which the inbox does not know.
        [MutantCatalog.NewMessageIdPerDispatch] = new(["crash-after-publish"], [Checker.ExactlyOnceEffect]),
    };

    // Control runs already made, per scenario and implementation: why it proves nothing (null when the real
    // implementation passed), and its run folder.
    private readonly Dictionary<(string Scenario, string Implementation), (string? Why, string Folder)> _controls = [];

    public async Task<MutantOutcome> RunAsync(Mutant mutant, CancellationToken ct)
    {
        var implementation = ImplementationCatalog.Find(mutant.Implementation)
                             ?? throw new InvalidOperationException($"mutant {mutant.Name} names an unknown implementation {mutant.Implementation}");
        var plan = Plans.GetValueOrDefault(mutant.Name);
        var tried = new List<string>();
        var folders = new List<string>();
        var problems = new List<string>();
        if (plan is null) problems.Add("no scenario is meant to catch it");
        var anyControlPassed = false;
        foreach (var name in plan?.Scenarios ?? [])
        {
            var scenario = ScenarioCatalog.Find(name);
            tried.Add(name);
            if (await ControlAsync(scenario, implementation, folders, ct) is { } failedControl)
            {
                problems.Add($"{name}: {failedControl}");
                say($"mutant {mutant.Name}: {name} proves nothing here: {failedControl}");
                continue;
            }
            anyControlPassed = true;
            string problem;
            say($"mutant {mutant.Name}: running {name} against {implementation.Name} with '{mutant.Safeguard}'");
            var (run, folder) = await RunOnceAsync(scenario, implementation, mutant.Name, ct);
            folders.Add(folder);
            var expected = scenario.ExpectedViolations(implementation.Name);
            var caughtBy = run.Invariants.Where(i => !i.Ok && i.Examples.Count > 0 && plan!.Invariants.Contains(i.Name) && !expected.Contains(i.Name)).ToList();
            if (!RanAsMutant(folder, run, mutant))
                problem = $"{name}: no process logged 'MUTANT {mutant.Name}', so the run did not test the mutant";
            else if (run.Faults.FirstOrDefault(f => f.Outcome is Faults.FaultOutcome.NotTriggered or Faults.FaultOutcome.RestartFailed or Faults.FaultOutcome.UnexpectedExit) is { } fault)
                problem = $"{name}: {Faults.Words.Of(fault.Outcome)} {fault.Kind} of {fault.Target} ({fault.Note})";
            else if (run.Verdict == Verdict.Error)
                problem = $"{name}: {run.Error ?? string.Join("; ", run.Reasons)}";
            else if (caughtBy.Count > 0)
                return new MutantOutcome(mutant, true, name, [.. caughtBy, .. run.Invariants.Where(i => !i.Ok && !caughtBy.Contains(i))], tried, null, folders);
            else
                problem = $"{name}: none of {string.Join(", ", plan!.Invariants)} was violated";
            problems.Add(problem);
            say($"mutant {mutant.Name}: NOT caught by {name} ({problem})");
        }
        return new MutantOutcome(mutant, false, null, [], tried, string.Join("; ", problems), folders, Inconclusive: tried.Count > 0 && !anyControlPassed);
    }

    /// <summary>Null when the real implementation passes the scenario with this seed on these servers; otherwise why not.</summary>
    private async Task<string?> ControlAsync(Scenario scenario, IImplementation implementation, List<string> folders, CancellationToken ct)
    {
        if (!_controls.TryGetValue((scenario.Name, implementation.Name), out var control))
        {
            say($"control: {scenario.Name} against the real {implementation.Name}, which must pass for a mutant's failure to mean anything");
            var (run, folder) = await RunOnceAsync(scenario, implementation, null, ct);
            var why = run.Verdict switch
            {
                Verdict.Pass or Verdict.FailedAsExpected => null,
                // External servers cannot be crashed, say: the scenario cannot run here at all.
                Verdict.NotApplicable => $"the scenario does not apply to {implementation.Name} on these servers ({string.Join("; ", run.Faults.Select(f => f.Note).Distinct())})",
                _ => $"control failed: the real {implementation.Name} did not pass it either ({Faults.Words.Of(run.Verdict)}: {string.Join("; ", run.Reasons)})",
            };
            _controls[(scenario.Name, implementation.Name)] = control = (why, folder);
        }
        if (!folders.Contains(control.Folder)) folders.Add(control.Folder);
        return control.Why;
    }

    private async Task<(ImplementationRun Run, string Folder)> RunOnceAsync(Scenario scenario, IImplementation implementation, string? mutant, CancellationToken ct)
    {
        var runner = new ScenarioRunner(options with { Implementations = [implementation], Mutant = mutant, ScenarioSource = scenario.Name }, say);
        var result = await runner.RunAsync(scenario, ct, servers);
        await Reporting.RunFolder.WriteAsync(runner.RunDirectory!, result, CancellationToken.None);
        return (result.Runs.Single(), runner.RunDirectory!);
    }

    /// <summary>The evidence that the process whose code the mutant changes really ran as the mutant: the line its host logs at start.</summary>
    private static bool RanAsMutant(string runDirectory, ImplementationRun run, Mutant mutant) =>
        run.Logs.Where(l => l.EndsWith(".log", StringComparison.Ordinal))
            .Select(l => Path.Combine(runDirectory, l))
            .Where(File.Exists)
            .Any(path => File.ReadLines(path).Any(line => line.Contains($"MUTANT {mutant.Name}:", StringComparison.Ordinal)));
}
