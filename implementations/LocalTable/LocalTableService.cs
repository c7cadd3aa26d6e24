using Dtx.Shared.Hosting;

namespace Dtx.LocalTable;

/// <summary>The roles this implementation runs as processes: <c>initiator</c> (with its relay) and <c>participant</c> (with its own).</summary>
public static class LocalTableService
{
    public const string Name = "local-table";

    public static IServiceRole? Role(string name) => name switch
    {
        "initiator" => new Initiator(),
        "participant" => new Participant(),
        _ => null,
    };
}
