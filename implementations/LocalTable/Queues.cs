using System.Security.Cryptography;
using System.Text;
using Dtx.Shared.Hosting;

namespace Dtx.LocalTable;

/// <summary>The two queues of the protocol: orders go to the participant, replies come back to the initiator.</summary>
public sealed record Queues(string Orders, string Replies)
{
    public static Queues For(ServiceOptions options) => new($"{options.QueuePrefix}.orders", $"{options.QueuePrefix}.replies");

    /// <summary>
    /// The order message's id, derived from the order id: every republish of one order carries the same id, which
    /// is what the participant's inbox dedupes on, and the initiator can find the row a reply completes.
    /// </summary>
    public static Guid OrderMessageId(string orderId) => new(MD5.HashData(Encoding.UTF8.GetBytes("order:" + orderId)));
}
