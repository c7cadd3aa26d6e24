using Dtx.Shared.Hosting;

namespace Dtx.DualWrite;

/// <summary>The roles this baseline runs as processes: <c>initiator</c> and <c>participant</c>.</summary>
public static class DualWriteService
{
    public const string Name = "dual-write";

    public static IServiceRole? Role(string name) => name switch
    {
        "initiator" => new Initiator(),
        "participant" => new Participant(),
        _ => null,
    };
}
