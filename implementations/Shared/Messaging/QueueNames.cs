using Dtx.Shared.Hosting;

namespace Dtx.Shared.Messaging;

/// <summary>The two queues of both protocols: orders go to the participant, replies come back to the initiator.</summary>
public sealed record QueueNames(string Orders, string Replies)
{
    public static QueueNames For(ServiceOptions options) => For(options.QueuePrefix);

    public static QueueNames For(string prefix) => new($"{prefix}.orders", $"{prefix}.replies");
}
