using Dtx.Harness.Faults;

namespace Dtx.Harness.Checking;

/// <summary>What one implementation's run of a scenario proved, as result.json spells it: pass, fail, error, not-applicable.</summary>
public enum Verdict
{
    /// <summary>Every invariant held, every planned fault was injected, no service exited unplanned, and the load made progress.</summary>
    Pass,
    /// <summary>An invariant was violated, or the run proved less than it claims: a fault not triggered, an unplanned exit, too little progress.</summary>
    Fail,
    /// <summary>The run could not complete: the harness failed, or a process did not come back after a fault.</summary>
    Error,
    /// <summary>Every invariant held but none of the scenario's faults applies to this implementation: it proved nothing about them.</summary>
    NotApplicable,
    /// <summary>
    /// It violated exactly the invariants the scenario expects of it (its <c>expect</c>), and nothing else went wrong;
    /// the baseline may violate more (see <see cref="Judgement.Of"/>).
    /// </summary>
    FailedAsExpected,
}

/// <summary>A verdict and every reason it is not a plain pass, each one line for result.json and the console.</summary>
public sealed record Judgement(Verdict Verdict, IReadOnlyList<string> Reasons)
{
    /// <summary>
    /// A run passes only when it proves what it says. Each rule below guards against a run that would otherwise pass
    /// while proving nothing: a fault that never fired, a service that died on its own and was quietly restarted, a
    /// load that the faults stopped so that there was nothing to check.
    /// </summary>
    /// <param name="requested">The orders the progress floor is judged on, and <paramref name="created"/> the ones of them created: see <see cref="Checker.ProgressOf"/>.</param>
    /// <param name="outsideFaults">Those are the orders requested between and after the faults that fail requests, as the reason then says.</param>
    /// <param name="afterFaults">The orders requested after the last fault ended and the ones of them created, judged on the same floor.</param>
    /// <param name="thresholdsCrossed">The scenario's thresholds this run crossed, one line each (<see cref="Scenarios.Thresholds.CrossedBy"/>).</param>
    /// <param name="baselineMayBreak">
    /// The naive baseline judged beside a reference: it must violate every expected invariant, and a violation of one
    /// of these that the scenario does not list is reported ("also") instead of failing it — how much more a naive
    /// implementation breaks depends on timing. Null for everything else, which is judged strictly.
    /// </param>
    public static Judgement Of(CheckResult check, IReadOnlyList<FaultRecord> faults, bool faultsPlanned, int requested, int created, double minCreatedShare,
        IReadOnlyCollection<string>? expectedViolations = null, IReadOnlyList<string>? unresolvedMessages = null, IReadOnlyCollection<string>? baselineMayBreak = null,
        bool outsideFaults = false, (int Requested, int Created)? afterFaults = null, IReadOnlyList<string>? thresholdsCrossed = null)
    {
        var expected = expectedViolations ?? [];
        var reasons = new List<string>();
        var asExpected = new List<string>();
        var also = new List<string>();
        var error = false;
        foreach (var invariant in check.Invariants.Where(i => !i.Ok))
            (expected.Contains(invariant.Name) ? asExpected : baselineMayBreak?.Contains(invariant.Name) == true ? also : reasons).Add(
                $"{invariant.Name} violated {invariant.Violations} time(s), e.g. {string.Join(", ", invariant.Examples.Take(3))}");
        // An expected violation that did not happen means the scenario did not show what it exists to show.
        foreach (var name in expected.Where(name => check.Invariants.Any(i => i.Name == name && i.Ok)))
            reasons.Add($"{name} was expected to be violated (the scenario's expect) but held");
        foreach (var fault in faults)
        {
            var what = $"{Words.Of(fault.Kind)} of {fault.Target}{(fault.Step is null ? "" : " at " + fault.Step)} at {fault.AtSeconds:0.0}s";
            switch (fault.Outcome)
            {
                case FaultOutcome.NotTriggered:
                    reasons.Add($"{what} was not triggered: {fault.Note}");
                    break;
                case FaultOutcome.UnexpectedExit:
                    reasons.Add($"{fault.Target} exited although no fault was planned for it ({fault.Note}, at {fault.AtSeconds:0.0}s)");
                    break;
                case FaultOutcome.RestartFailed:
                    reasons.Add($"{what}: {fault.Note}");
                    error = true;
                    break;
            }
        }
        reasons.AddRange(unresolvedMessages ?? []);
        var needed = Math.Max(1, (int)Math.Ceiling(requested * minCreatedShare));
        // The baseline beside a reference that made progress under the same load and faults: its orders missing are
        // the losses it exists to show (dual-write never reconnects after a broker crash), not a load that proved
        // nothing, as long as it broke what the scenario expects of it.
        if (created < needed)
            (baselineMayBreak is not null && asExpected.Count > 0 ? also : reasons).Add(
                $"too little progress: {created} of {requested} {(outsideFaults ? "orders requested between and after the faults that fail requests" : "requested orders")} were created ({Share(created, requested)}; the scenario needs at least {minCreatedShare:0%})");
        // A system that stopped at its first fault and never came back, judged apart: before the fault it may have made enough.
        if (afterFaults is { } after && after.Created < Math.Max(1, (int)Math.Ceiling(after.Requested * minCreatedShare)))
            (baselineMayBreak is not null && asExpected.Count > 0 ? also : reasons).Add(
                $"too little progress after the faults: {after.Created} of the {after.Requested} orders requested after the last fault ended were created ({Share(after.Created, after.Requested)}; the scenario needs at least {minCreatedShare:0%})");
        // A baseline losing orders may well be slow too: beside its expected violation that is not the news.
        foreach (var crossed in thresholdsCrossed ?? [])
            (baselineMayBreak is not null && asExpected.Count > 0 ? also : reasons).Add(crossed);

        if (error) return new(Verdict.Error, reasons);
        if (reasons.Count > 0) return new(Verdict.Fail, reasons);
        if (asExpected.Count + also.Count > 0)
            return new(Verdict.FailedAsExpected, asExpected.Select(r => "as expected: " + r).Concat(also.Select(r => "also: " + r)).ToList());
        var noneApplied = faultsPlanned && faults.Where(f => f.Outcome != FaultOutcome.UnexpectedExit).All(f => f.Outcome == FaultOutcome.NotApplicable);
        return noneApplied
            ? new(Verdict.NotApplicable, ["none of the scenario's faults applies to this implementation"])
            : new(Verdict.Pass, []);
    }

    private static string Share(int part, int whole) => whole == 0 ? "no requests" : $"{(double)part / whole:0.#%}";
}
