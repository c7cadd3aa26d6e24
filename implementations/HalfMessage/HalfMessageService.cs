using Dtx.Shared.Hosting;

namespace Dtx.HalfMessage;

/// <summary>The roles this implementation runs as processes: <c>txbroker</c> (the coordinator), <c>initiator</c> and <c>participant</c>.</summary>
public static class HalfMessageService
{
    public const string Name = "half-message";

    public static IServiceRole? Role(string name) => name switch
    {
        "txbroker" => new TxBroker(),
        "initiator" => new Initiator(),
        "participant" => new Participant(),
        _ => null,
    };
}
