namespace Dtx.Harness.Proxy;

/// <summary>Which way data flows through a proxy: upstream is client→server, downstream is server→client.</summary>
internal enum Direction
{
    Upstream = 0,
    Downstream = 1,
}

internal static class Directions
{
    public static readonly Direction[] All = [Direction.Upstream, Direction.Downstream];

    /// <summary>Toxiproxy parses the stream case-insensitively (<c>stream/direction.go</c>) but keeps the caller's spelling.</summary>
    public static bool TryParse(string value, out Direction direction)
    {
        switch (value.ToLowerInvariant())
        {
            case "upstream": direction = Direction.Upstream; return true;
            case "downstream": direction = Direction.Downstream; return true;
            default: direction = default; return false;
        }
    }
}
