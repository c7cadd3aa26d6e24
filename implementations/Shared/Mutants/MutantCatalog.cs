namespace Dtx.Shared.Mutants;

/// <summary>One safeguard of a reference implementation that can be switched off, to prove some scenario notices.</summary>
/// <param name="Name">What <c>--mutant</c> and the <c>mutants</c> command call it.</param>
/// <param name="Implementation">local-table or half-message.</param>
/// <param name="Safeguard">What is switched off, in one line: the broken variant a careless change would produce.</param>
public sealed record Mutant(string Name, string Implementation, string Safeguard);

/// <summary>
/// The catalogue of mutants: each reference implementation with one safeguard switched off. A service runs as a
/// mutant only when the harness names one at start-up (<c>--mutant NAME</c>); otherwise every check below is a
/// field read as false once, at start. A green catalogue is trusted because the same catalogue catches each of these.
/// </summary>
public static class MutantCatalog
{
    // ---- local-table
    public const string OutboxAfterCommit = "outbox-after-commit";
    public const string NoInboxDedupe = "no-inbox-dedupe";
    public const string MarkBeforeConfirm = "mark-before-confirm";
    public const string NoRepublish = "no-republish";
    public const string CompensateWithoutCas = "compensate-without-cas";

    // ---- half-message
    public const string CheckBackBlindCommit = "checkback-blind-commit";
    public const string CheckBackUnfencedRollback = "checkback-unfenced-rollback";
    public const string IgnoreFence = "ignore-fence";
    public const string DispatchBeforeCommit = "dispatch-before-commit";
    public const string RollbackSentAsCommit = "rollback-sent-as-commit";
    public const string NewMessageIdPerDispatch = "new-message-id-per-dispatch";

    public static readonly IReadOnlyList<Mutant> All =
    [
        new(OutboxAfterCommit, "local-table", "the outbox row is written in its own transaction after the business commit, not in it"),
        new(NoInboxDedupe, "local-table", "the participant's inbox does not dedupe: every delivery is applied"),
        new(MarkBeforeConfirm, "local-table", "the relay marks a row published before the broker has confirmed it, so a publish that then fails is not retried"),
        new(NoRepublish, "local-table", "an order is never republished when its reply is late: the row goes once the broker confirmed it"),
        new(CompensateWithoutCas, "local-table", "a reply resolves its order without the status compare-and-set, so a duplicate restocks again"),
        new(CheckBackBlindCommit, "half-message", "check-back answers commit without looking at the transaction log"),
        new(CheckBackUnfencedRollback, "half-message", "check-back answers rollback for an unknown transaction without fencing it"),
        new(IgnoreFence, "half-message", "the local transaction goes on when it meets a check-back's fence"),
        new(DispatchBeforeCommit, "half-message", "txbroker dispatches a half message as soon as it is prepared, before any commit is recorded"),
        new(RollbackSentAsCommit, "half-message", "when the business step fails, the half message is committed instead of rolled back"),
        new(NewMessageIdPerDispatch, "half-message", "txbroker gives each dispatch attempt a new message id, so a redispatch looks new to the inbox"),
    ];

    public static Mutant? Find(string name) => All.FirstOrDefault(m => m.Name == name);

    public static IEnumerable<Mutant> Of(string implementation) => All.Where(m => m.Implementation == implementation);
}
