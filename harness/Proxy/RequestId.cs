using System.Buffers.Binary;

namespace Dtx.Harness.Proxy;

/// <summary>
/// Request ids in the shape Toxiproxy's <c>X-Toxiproxy-Request-Id</c> has (an <c>xid</c>: 12 bytes in lower-case
/// base32hex, 20 characters): seconds since the epoch, a per-process random part, and a counter.
/// </summary>
internal static class RequestId
{
    private const string Alphabet = "0123456789abcdefghijklmnopqrstuv";
    private static readonly byte[] ProcessPart = Random.Shared.GetItems<byte>(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), 5);
    private static int _counter = Random.Shared.Next();

    public static string Next()
    {
        Span<byte> id = stackalloc byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(id, (uint)DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        ProcessPart.CopyTo(id[4..]);
        int counter = Interlocked.Increment(ref _counter);
        id[9] = (byte)(counter >> 16);
        id[10] = (byte)(counter >> 8);
        id[11] = (byte)counter;

        Span<char> text = stackalloc char[20];
        int bits = 0, value = 0, written = 0;
        foreach (byte b in id)
        {
            value = (value << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                text[written++] = Alphabet[(value >> (bits - 5)) & 31];
                bits -= 5;
            }
        }
        if (bits > 0) text[written++] = Alphabet[(value << (5 - bits)) & 31];
        return new string(text[..written]);
    }
}
