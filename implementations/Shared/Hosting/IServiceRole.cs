using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Dtx.Shared.Hosting;

/// <summary>
/// One role of a reference implementation (initiator, participant, txbroker …) as the service host runs it:
/// it declares its failpoints and services, maps its HTTP endpoints, and runs its background loops (relay,
/// consumers) until the process stops.
/// </summary>
public interface IServiceRole
{
    /// <summary>The failpoint names this role hits, in protocol order.</summary>
    IReadOnlyList<string> Failpoints { get; }

    /// <summary>The mutants whose switched-off safeguard lives in this process (<see cref="Mutants.MutantCatalog"/>); none by default.</summary>
    IReadOnlyList<string> Mutants => [];

    void ConfigureServices(IServiceCollection services, ServiceOptions options);

    void MapEndpoints(WebApplication app);

    /// <summary>Connects, declares what it needs, starts its loops. The service reports healthy only after this returns.</summary>
    Task StartAsync(IServiceProvider services, CancellationToken stopping);
}
