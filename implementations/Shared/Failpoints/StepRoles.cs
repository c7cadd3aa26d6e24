namespace Dtx.Shared.Failpoints;

/// <summary>One named step of a protocol, as scenario files, result.json and failpoints name it.</summary>
public sealed record StepRole(string Name, string Description);

/// <summary>
/// The catalogue of step roles, in protocol order: the one list the implementations, the harness and scenario
/// files share. Each implementation maps a role to one of its processes and failpoints (or has no such step: a
/// fault there is not applicable to it). The failpoint inside the process has the role's name, except where one
/// process runs the same code for two roles (LocalTable's participant runs a relay of its own for replies).
/// </summary>
public static class StepRoles
{
    public const string InitiatorAfterPrepare = "initiator.after-prepare";
    public const string BrokerAfterPersist = "broker.after-persist";
    public const string InitiatorBeforeCommit = "initiator.before-commit";
    public const string InitiatorAfterCommit = "initiator.after-commit";
    public const string RelayAfterPublish = "relay.after-publish";
    public const string ParticipantAfterCommit = "participant.after-commit";
    public const string ReplyRelayAfterPublish = "reply-relay.after-publish";
    public const string InitiatorAfterReply = "initiator.after-reply";
    public const string CheckBackBeforeAnswer = "checkback.before-answer";

    public static readonly IReadOnlyList<StepRole> All =
    [
        new(InitiatorAfterPrepare, "half-message: the half message is stored at txbroker, the local transaction has not begun"),
        new(BrokerAfterPersist, "half-message: txbroker has stored the half message and not yet answered the producer"),
        new(InitiatorBeforeCommit, "the initiator's local transaction (stock deduction) is written but not committed"),
        new(InitiatorAfterCommit, "the local transaction committed; the message has not been handed on"),
        new(RelayAfterPublish, "the order message is confirmed by RabbitMQ and not yet marked sent (LocalTable's relay, txbroker's dispatcher)"),
        new(ParticipantAfterCommit, "the participant committed the order and its inbox row, and has not acked the delivery"),
        new(ReplyRelayAfterPublish, "local-table: the participant's relay published the reply and has not marked it sent"),
        new(InitiatorAfterReply, "the initiator applied the reply (done or compensated) and has not acked it"),
        new(CheckBackBeforeAnswer, "half-message: the producer has its check-back answer and has not sent it"),
    ];

    public static bool IsKnown(string name) => All.Any(role => role.Name == name);

    public static IEnumerable<string> Names => All.Select(role => role.Name);
}
