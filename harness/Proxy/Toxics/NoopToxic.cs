namespace Dtx.Harness.Proxy;

/// <summary>Passes everything through. Also what a stub runs when its toxicity roll says "not this connection".</summary>
internal sealed class NoopToxic : Toxic
{
    public static readonly NoopToxic Instance = new();

    public override string Type => "noop";

    public override async Task PipeAsync(ToxicStub stub, CancellationToken interrupt)
    {
        while (await stub.ReadAsync(interrupt).ConfigureAwait(false) is { } chunk)
            await stub.WriteAsync(chunk).ConfigureAwait(false);
        stub.Close();
    }
}
