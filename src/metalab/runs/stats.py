"""Re-export of ``metalab.stats`` for the experiments that import it from here."""

from metalab.stats import mean_ci95 as mean_ci95
