using Dtx.Harness.Faults;

namespace Dtx.Harness.Checking;

/// <summary>
/// One thing that happened to an order: when (seconds since the load started; null where it is not known, as for a
/// log line, whose clock is the process's own), who saw it, and what; <paramref name="LogLine"/> when the text is a
/// process's log line as written.
/// </summary>
public sealed record TraceEvent(double? AtSeconds, string Source, string What, bool LogLine = false);

/// <summary>
/// A protocol step an implementation's tables show for an order (a publish, a delivery, a half message resolved), on
/// the databases' wall clock; <see cref="OrderTrace.OfViolations"/> puts it on the run's.
/// </summary>
public sealed record TraceStep(string OrderId, DateTimeOffset At, string Source, string What);

/// <summary>
/// What happened to one order a violation names, from every record of it: the client's requests and answers, the
/// initiator's and the participant's rows after the drain, the protocol's steps as the implementation's tables keep
/// them, the faults near it, and the log lines of the run's services that name it. A reader of a failing run starts here: the order id alone says which order, the trace says how.
/// </summary>
public sealed record OrderTrace(string OrderId, IReadOnlyList<TraceEvent> Events)
{
    /// <summary>Orders traced per run: a violation's first examples are enough to see the pattern.</summary>
    public const int MaxOrders = 10;

    /// <summary>Log lines kept per order and process: a message redelivered every 200 ms would fill the report.</summary>
    public const int MaxLogLines = 20;

    /// <summary>The order ids a trace is made for: the examples of the violated invariants, each once, at most <see cref="MaxOrders"/>, before they are checked to be orders.</summary>
    public static IReadOnlyList<string> Candidates(CheckResult check) =>
        check.Invariants.Where(i => !i.Ok).SelectMany(i => i.Examples).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>Whether a log line names the order: the id as a whole word, so that ord-1 does not match ord-10.</summary>
    public static bool Names(string line, string id)
    {
        for (var at = line.IndexOf(id, StringComparison.Ordinal); at >= 0; at = line.IndexOf(id, at + 1, StringComparison.Ordinal))
        {
            var end = at + id.Length;
            if ((at == 0 || !IsIdChar(line[at - 1])) && (end == line.Length || !IsIdChar(line[end]))) return true;
        }
        return false;

        static bool IsIdChar(char c) => char.IsLetterOrDigit(c) || c is '-' or '_';
    }

    /// <summary>The traces of the examples of every violated invariant, in invariant order, each order once.</summary>
    /// <param name="logs">Each process's log lines by its name (e.g. <c>initiator</c>), in file order.</param>
    /// <param name="faults">The run's fault windows: those within a second of the order's own events are shown among them.</param>
    /// <param name="steps">The protocol steps the implementation's tables show for these orders (<c>IImplementation.TraceStepsAsync</c>).</param>
    public static IReadOnlyList<OrderTrace> OfViolations(CheckResult check, History history, GroundTruth truth, IReadOnlyDictionary<string, IReadOnlyList<string>> logs,
        IReadOnlyList<FaultRecord> faults, IReadOnlyList<TraceStep>? steps = null)
    {
        // Only the candidates' rows are indexed: a lookup of every order made a group for each of a long run's
        // hundreds of thousands (a ten-minute run that failed peaked at 820 MB after its check, when this ran).
        var candidates = Candidates(check);
        var wanted = candidates.ToHashSet(StringComparer.Ordinal);
        var initiator = truth.InitiatorOrders.Where(o => wanted.Contains(o.OrderId)).ToLookup(o => o.OrderId, StringComparer.Ordinal);
        var participant = truth.ParticipantOrders.Where(o => wanted.Contains(o.OrderId)).ToLookup(o => o.OrderId, StringComparer.Ordinal);
        var ops = history.Ops.Where(o => wanted.Contains(o.OrderId)).ToLookup(o => o.OrderId, StringComparer.Ordinal);
        // Some examples are customers or skus (a wrong running spend): only orders have a trace.
        var ids = candidates
            .Where(id => ops.Contains(id) || initiator.Contains(id) || participant.Contains(id)).Take(MaxOrders).ToList();
        if (ids.Count == 0) return [];
        // The databases' times are wall-clock; the history ties the wall clock to the run's seconds. An op is recorded
        // at or after its time on the run's clock (a request's is when it was due), so the least difference is the start.
        var start = history.Ops.Count > 0 ? history.Ops.Min(o => o.WallClock - TimeSpan.FromSeconds(o.AtSeconds)) : (DateTimeOffset?)null;
        double? Seconds(DateTimeOffset? at) => at is { } wall && start is { } s ? Math.Round((wall - s).TotalSeconds, 3) : null;

        return ids.Select(id =>
        {
            var events = new List<TraceEvent>();
            foreach (var op in ops[id])
                events.Add(new TraceEvent(Math.Round(op.AtSeconds, 3), "client", op.Type switch
                {
                    OpType.Invoke => $"requests {op.Qty} × {op.Sku} for {op.CustomerId} (client {op.Process})",
                    OpType.Ok => "answered ok",
                    OpType.Fail => "answered: failed" + (op.Detail is null ? "" : $" ({op.Detail})"),
                    _ => "no answer: indeterminate" + (op.Detail is null ? "" : $" ({op.Detail})"),
                }));
            foreach (var row in initiator[id])
            {
                events.Add(new TraceEvent(Seconds(row.CreatedAt), "initiator", $"deducted {row.Qty} × {row.Sku} in its local transaction"));
                var restocks = row.Restocks == 0 ? "" : $", restocked {row.Restocks} time(s)";
                events.Add(new TraceEvent(Seconds(row.ResolvedAt), "initiator", row.Status switch
                {
                    InitiatorStatus.Pending => "still pending after the drain" + restocks,
                    InitiatorStatus.Done => "marked done" + restocks,
                    _ => "compensated" + restocks,
                }));
            }
            if (!initiator[id].Any()) events.Add(new TraceEvent(null, "initiator", "has no row of this order"));
            foreach (var row in participant[id])
                events.Add(new TraceEvent(Seconds(row.ProcessedAt), "participant",
                    $"{(row.Status == ParticipantStatus.Created ? "created" : "rejected")} {row.Qty} × {row.Sku} for {row.CustomerId}, applied {row.Applications} time(s)"));
            if (!participant[id].Any()) events.Add(new TraceEvent(null, "participant", "has no row of this order"));
            events.AddRange((steps ?? []).Where(step => step.OrderId == id).Select(step => new TraceEvent(Seconds(step.At), step.Source, step.What)));
            // The faults near the order, their windows within a second of its events: what a reader looks for first
            // (a crash between the commit and the publish, a partition the whole order lived through).
            var times = events.Where(e => e.AtSeconds is not null).Select(e => e.AtSeconds!.Value).ToList();
            if (times.Count > 0)
                events.AddRange(faults.Where(f => f.Outcome is FaultOutcome.Injected or FaultOutcome.UnexpectedExit
                                                  && f.AtSeconds <= times.Max() + 1 && (f.EndSeconds ?? f.AtSeconds) >= times.Min() - 1)
                    .Select(f => new TraceEvent(Math.Round(f.AtSeconds, 3), "nemesis",
                        $"{Words.Of(f.Kind)} of {f.Target}{(f.Step is null ? "" : " at " + f.Step)}{(f.EndSeconds is { } end ? $", over at {end:0.0}s" : "")}{(f.Outcome == FaultOutcome.UnexpectedExit ? " (unplanned exit)" : "")}")));
            // Timed events in time order (a row without a time, such as a pending order's resolution, after them), then the log lines by process.
            var timed = events.OrderBy(e => e.AtSeconds ?? double.MaxValue).ToList();
            foreach (var (process, lines) in logs.OrderBy(l => l.Key, StringComparer.Ordinal))
                timed.AddRange(lines.Where(line => Names(line, id)).Take(MaxLogLines).Select(line => new TraceEvent(null, process, line, LogLine: true)));
            return new OrderTrace(id, timed);
        }).ToList();
    }
}
