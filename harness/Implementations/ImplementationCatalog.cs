using Dtx.Shared.Hosting;

namespace Dtx.Harness.Implementations;

/// <summary>The implementations the harness can run, and the service roles each one's processes take.</summary>
public static class ImplementationCatalog
{
    public static readonly IReadOnlyList<IImplementation> All = [new LocalTableImplementation(), new HalfMessageImplementation(), new DualWriteImplementation()];

    /// <summary>The two reference implementations, without the baseline.</summary>
    public static IReadOnlyList<IImplementation> References => All.Where(i => !i.IsBaseline).ToList();

    public static IReadOnlyList<string> Names => All.Select(i => i.Name).ToList();

    public static IImplementation? Find(string name) => All.FirstOrDefault(i => i.Name == name);

    /// <summary>The role object a service process hosts (the harness's hidden <c>service</c> command).</summary>
    public static IServiceRole? Role(string implementation, string role) => implementation switch
    {
        LocalTable.LocalTableService.Name => LocalTable.LocalTableService.Role(role),
        HalfMessage.HalfMessageService.Name => HalfMessage.HalfMessageService.Role(role),
        DualWrite.DualWriteService.Name => DualWrite.DualWriteService.Role(role),
        _ => null,
    };
}
