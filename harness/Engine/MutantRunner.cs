using Dtx.Harness.Checking;
using Dtx.Harness.Implementations;
using Dtx.Harness.Scenarios;
using Dtx.Shared.Mutants;

namespace Dtx.Harness.Engine;

/// <summary>What one mutant's runs showed: caught (an invariant violated, with examples) or not, and by which scenario.</summary>
public sealed record MutantOutcome(
    Mutant Mutant,
    bool Caught,
    string? CaughtBy,
    IReadOnlyList<InvariantResult> Violated,
    IReadOnlyList<string> Tried,
    string? Problem,
    IReadOnlyList<string> RunFolders);

/// <summary>
/// Runs each mutant — a reference implementation with one safeguard switched off — against the catalogue scenarios
/// that exist to catch it, until one does. A mutant counts as caught only when an invariant was violated in a run
/// whose every planned fault was injected and whose services logged that they ran as that mutant: a run that failed
/// for any other reason (a fault that never fired, an error) proves nothing about the safeguard.
/// </summary>
public sealed class MutantRunner(RunOptions options, RunServers servers, Action<string> say)
{
    /// <summary>
    /// Which scenarios should catch each mutant, the likeliest first. A mutant none of them catches is a gap in the
    /// catalogue: the fix is a scenario that catches it, never dropping the mutant.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlyList<string>> CaughtBy = new Dictionary<string, IReadOnlyList<string>>
    {
        // The crash lands between the business commit and the separate outbox insert: the order is never sent.
        [Mutants.OutboxAfterCommit] = ["crash-after-commit"],
        // The redelivery after a crash before the ack is applied again: customer_spend counts it twice.
        [Mutants.NoInboxDedupe] = ["crash-participant-after-commit"],
        // Publishes that fail while RabbitMQ is down are forgotten; the reply timeout is longer than the drain.
        [Mutants.MarkBeforeConfirm] = ["crash-broker"],
        // Confirmed orders are purged from the queue, and nothing sends them again.
        [Mutants.NoRepublish] = ["message-loss"],
        // The frozen participant answers republished orders twice; the second rejection restocks again.
        [Mutants.CompensateWithoutCas] = ["pause-participant", "crash-after-reply"],
        // A half with no local transaction behind it is committed: an order nobody paid for.
        [Mutants.CheckBackBlindCommit] = ["crash-after-prepare", "crash-broker-after-persist"],
        // A slow local transaction is told nothing of the rollback and commits: its order is never dispatched.
        [Mutants.CheckBackUnfencedRollback] = ["slow-local-transaction"],
        [Mutants.IgnoreFence] = ["slow-local-transaction"],
        // Out-of-stock orders were dispatched at prepare, before their rollback.
        [Mutants.DispatchBeforeCommit] = ["business-reject", "crash-before-commit"],
        [Mutants.RollbackSentAsCommit] = ["business-reject"],
        // The redispatch after a crash before the mark carries a new id, which the inbox does not know.
        [Mutants.NewMessageIdPerDispatch] = ["crash-after-publish"],
    };

    public async Task<MutantOutcome> RunAsync(Mutant mutant, CancellationToken ct)
    {
        var implementation = ImplementationCatalog.Find(mutant.Implementation)
                             ?? throw new InvalidOperationException($"mutant {mutant.Name} names an unknown implementation {mutant.Implementation}");
        var tried = new List<string>();
        var folders = new List<string>();
        string? problem = null;
        foreach (var name in CaughtBy.GetValueOrDefault(mutant.Name) ?? [])
        {
            say($"mutant {mutant.Name}: running {name} against {implementation.Name} with '{mutant.Safeguard}'");
            var runner = new ScenarioRunner(options with { Implementations = [implementation], Mutant = mutant.Name, ScenarioSource = name }, say);
            var result = await runner.RunAsync(ScenarioCatalog.Find(name), ct, servers);
            await Reporting.RunFolder.WriteAsync(runner.RunDirectory!, result, CancellationToken.None);
            tried.Add(name);
            folders.Add(runner.RunDirectory!);
            var run = result.Runs.Single();
            var violated = run.Invariants.Where(i => !i.Ok).ToList();
            if (!RanAsMutant(runner.RunDirectory!, run, mutant))
                problem = $"{name}: no service logged 'MUTANT {mutant.Name}', so the run did not test the mutant";
            else if (run.Faults.Any(f => f.Outcome is Faults.FaultOutcome.NotTriggered or Faults.FaultOutcome.RestartFailed))
                problem = $"{name}: a planned fault was not injected ({string.Join("; ", run.Reasons)})";
            else if (run.Verdict == Verdict.Error)
                problem = $"{name}: {run.Error ?? string.Join("; ", run.Reasons)}";
            else if (violated.Count > 0)
                return new MutantOutcome(mutant, true, name, violated, tried, null, folders);
            say($"mutant {mutant.Name}: NOT caught by {name}{(problem is null ? "" : $" ({problem})")}");
        }
        return new MutantOutcome(mutant, false, null, [], tried, problem ?? (tried.Count == 0 ? "no scenario is meant to catch it" : null), folders);
    }

    /// <summary>The evidence that the services really ran as the mutant: the line the service host logs at start.</summary>
    private static bool RanAsMutant(string runDirectory, ImplementationRun run, Mutant mutant) =>
        run.Logs.Where(l => l.EndsWith(".log", StringComparison.Ordinal))
            .Select(l => Path.Combine(runDirectory, l))
            .Where(File.Exists)
            .Any(path => File.ReadLines(path).Any(line => line.Contains($"MUTANT {mutant.Name}:", StringComparison.Ordinal)));
}
