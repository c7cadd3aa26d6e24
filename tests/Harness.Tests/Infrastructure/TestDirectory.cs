namespace Dtx.Tests.Infrastructure;

/// <summary>Run folders for tests, under /tmp so that the 'postgres' user can reach them when the tests run as root.</summary>
internal static class TestDirectory
{
    public static string Create(string purpose) =>
        Directory.CreateDirectory(Path.Combine("/tmp", $"dtx-tests-{purpose}-{Guid.NewGuid():N}"[..32])).FullName;

    public static void Delete(string path)
    {
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
    }
}
