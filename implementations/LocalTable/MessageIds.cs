using System.Security.Cryptography;
using System.Text;

namespace Dtx.LocalTable;

public static class MessageIds
{
    /// <summary>
    /// The order message's id, derived from the order id: every republish of one order carries the same id, which
    /// is what the participant's inbox dedupes on, and the initiator can find the row a reply completes.
    /// </summary>
    public static Guid ForOrder(string orderId) => new(MD5.HashData(Encoding.UTF8.GetBytes("order:" + orderId)));
}
