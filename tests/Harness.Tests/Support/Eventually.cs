namespace Dtx.Tests.Support;

/// <summary>Polls a condition until it holds or the time is up: bounded in time and count, never a bare sleep.</summary>
public static class Eventually
{
    public static async Task<T> HoldsAsync<T>(Func<Task<T>> read, Func<T, bool> condition, TimeSpan within, string what)
    {
        var deadline = DateTime.UtcNow + within;
        T last;
        do
        {
            last = await read();
            if (condition(last)) return last;
            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);
        throw new TimeoutException($"{what} did not hold within {within.TotalSeconds:0}s; last value: {last}");
    }
}
