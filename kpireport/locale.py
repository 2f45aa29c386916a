"""Everything that depends on the language: labels (fr/en) and number formats, in one place.

The workbook, the review and the mail take their words and formats from here. Number formats
come from Babel's CLDR data (e.g. the currency symbol after the amount in French).
"""

from __future__ import annotations

from functools import cache

from .vocabulary import Format, Locale

LABELS: dict[str, dict[Locale, str]] = {
    # sheets
    "sheet.start": {"fr": "Mode d'emploi", "en": "Start here"},
    "sheet.inputs": {"fr": "Saisie", "en": "Inputs"},
    "sheet.kpis": {"fr": "Indicateurs", "en": "KPIs"},
    "sheet.dashboard": {"fr": "Tableau de bord", "en": "Dashboard"},
    # headers
    "col.input": {"fr": "Donnée à saisir", "en": "Monthly input"},
    "col.id": {"fr": "Identifiant", "en": "Id"},
    "col.unit": {"fr": "Unité", "en": "Unit"},
    "col.note": {"fr": "Note", "en": "Note"},
    "col.kpi": {"fr": "Indicateur", "en": "KPI"},
    "col.row": {"fr": "Ligne", "en": "Row"},
    "col.tolerance": {"fr": "Tolérance", "en": "Tolerance"},
    "col.owner": {"fr": "Responsable", "en": "Owner"},
    "col.domain": {"fr": "Domaine", "en": "Domain"},
    "col.frequency": {"fr": "Fréquence", "en": "Frequency"},
    "col.definition": {"fr": "Définition", "en": "Definition"},
    "col.formula": {"fr": "Formule", "en": "Formula"},
    "col.role": {"fr": "Rôle", "en": "Role"},
    "col.email": {"fr": "E-mail", "en": "E-mail"},
    "col.kpis_owned": {"fr": "Indicateurs suivis", "en": "KPIs they track"},
    "col.value": {"fr": "Réel", "en": "Actual"},
    "col.target": {"fr": "Cible", "en": "Target"},
    "col.attainment": {"fr": "Atteinte", "en": "Attainment"},
    "col.change_mom": {"fr": "Évol. vs M-1", "en": "vs last month"},
    "col.status": {"fr": "Statut", "en": "Status"},
    "history": {"fr": "historique", "en": "history"},
    # rows of a KPI block
    "row.value": {"fr": "Réel", "en": "Actual"},
    "row.target": {"fr": "Cible", "en": "Target"},
    "row.attainment": {"fr": "Atteinte de la cible", "en": "Attainment"},
    "row.change_mom": {"fr": "Évolution vs M-1", "en": "Change vs last month"},
    "row.ytd": {"fr": "Depuis janvier", "en": "Year to date"},
    # statuses
    "status.on": {"fr": "Atteint", "en": "On target"},
    "status.watch": {"fr": "À surveiller", "en": "Watch"},
    "status.off": {"fr": "Hors cible", "en": "Off target"},
    "status.no_data": {"fr": "Pas de donnée", "en": "No data"},
    "status.no_target": {"fr": "Sans cible", "en": "No target"},
    # directions and frequencies
    "direction.up": {"fr": "↑ plus haut = mieux", "en": "↑ higher is better"},
    "direction.down": {"fr": "↓ plus bas = mieux", "en": "↓ lower is better"},
    "frequency.weekly": {"fr": "hebdomadaire", "en": "weekly"},
    "frequency.monthly": {"fr": "mensuelle", "en": "monthly"},
    "frequency.quarterly": {"fr": "trimestrielle", "en": "quarterly"},
    "other": {"fr": "Autres données", "en": "Other inputs"},
    # the start sheet
    "start.period": {"fr": "Période : {first} à {last}", "en": "Period: {first} to {last}"},
    "start.how": {"fr": "Comment l'utiliser", "en": "How to use it"},
    "start.step1": {
        "fr": "1. Chaque mois, saisissez vos chiffres dans les cellules jaunes de l'onglet « Saisie » "
              "(une ligne par donnée, une colonne par mois).",
        "en": "1. Every month, type your figures in the yellow cells of the 'Inputs' sheet "
              "(one row per input, one column per month).",
    },
    "start.step2": {
        "fr": "2. L'onglet « Indicateurs » calcule chaque KPI par des formules : réel, cible, atteinte, "
              "évolution et cumul depuis janvier. Les cibles (jaunes) se modifient aussi.",
        "en": "2. The 'KPIs' sheet computes every KPI with formulas: actual, target, attainment, change "
              "and year to date. The targets (yellow) can be changed too.",
    },
    "start.step3": {
        "fr": "3. Les couleurs disent où vous en êtes par rapport à la cible, dans le bon sens "
              "(plus haut ou plus bas = mieux) :",
        "en": "3. Colours tell where you stand against the target, the right way round "
              "(higher or lower is better):",
    },
    "start.step4": {
        "fr": "4. L'onglet « Tableau de bord » résume le mois choisi et trace chaque KPI face à sa cible.",
        "en": "4. The 'Dashboard' sheet sums up the chosen month and charts each KPI against its target.",
    },
    "start.step5": {
        "fr": "5. Pour la revue PDF du mois : kpireport report kpireport.yaml --data ce-fichier.xlsx",
        "en": "5. For the month's PDF review: kpireport report kpireport.yaml --data this-file.xlsx",
    },
    "start.protected": {
        "fr": "Les formules sont protégées contre l'écrasement (sans mot de passe : Révision > Ôter la "
              "protection). Une cellule vide = pas de donnée, jamais zéro.",
        "en": "Formulas are protected from being overwritten (no password: Review > Unprotect sheet). "
              "An empty cell means no data, never zero.",
    },
    "start.legend": {"fr": "Légende", "en": "Legend"},
    "start.legend.on": {"fr": "cible atteinte", "en": "target met"},
    "start.legend.watch": {"fr": "proche de la cible (dans la tolérance)", "en": "close to target (within tolerance)"},
    "start.legend.off": {"fr": "hors cible", "en": "off target"},
    "start.legend.no_data": {"fr": "pas encore de donnée", "en": "no data yet"},
    "start.legend.input": {"fr": "cellule à remplir", "en": "cell to fill in"},
    "start.owners": {"fr": "Qui suit quoi", "en": "Who tracks what"},
    # inputs sheet
    "inputs.title": {"fr": "Saisie mensuelle", "en": "Monthly inputs"},
    "inputs.hint": {
        "fr": "Saisissez les chiffres du mois dans les cellules jaunes. Laissez vide ce que vous ne "
              "connaissez pas (pas de zéro). Les colonnes grises « historique » servent aux comparaisons.",
        "en": "Type the month's figures in the yellow cells. Leave blank what you do not know (no zero). "
              "Grey 'history' columns feed the comparisons.",
    },
    "validation.title": {"fr": "Saisie", "en": "Input"},
    "validation.number": {"fr": "Un nombre positif ou nul.", "en": "A number, zero or more."},
    "validation.percent": {"fr": "Un pourcentage entre 0 et 100 % (tapez 12 % ou 0,12).",
                           "en": "A percentage from 0 to 100 % (type 12% or 0.12)."},
    "validation.currency": {"fr": "Un montant.", "en": "An amount."},
    "validation.duration": {"fr": "Une durée en secondes, positive ou nulle.",
                            "en": "A duration in seconds, zero or more."},
    "validation.error_title": {"fr": "Valeur refusée", "en": "Value refused"},
    # KPI sheet and dashboard
    "kpis.title": {"fr": "Indicateurs calculés", "en": "Computed KPIs"},
    "kpis.hint": {
        "fr": "Tout est calculé par formule depuis l'onglet « Saisie ». Seules les cibles (jaunes) et "
              "les tolérances se modifient.",
        "en": "Everything is computed by formula from the 'Inputs' sheet. Only targets (yellow) and "
              "tolerances can be changed.",
    },
    "dashboard.title": {"fr": "Tableau de bord", "en": "Dashboard"},
    "dashboard.month": {"fr": "Mois affiché :", "en": "Month shown:"},
    "dashboard.month_hint": {"fr": "(choisissez dans la liste)", "en": "(pick from the list)"},
    "dashboard.summary": {"fr": "Synthèse du mois", "en": "The month at a glance"},
    "dashboard.table": {"fr": "Détail par indicateur", "en": "Each KPI"},
    "dashboard.charts": {"fr": "Réel et cible, mois par mois", "en": "Actual and target, month by month"},
}


def text(key: str, locale: Locale, **values: object) -> str:
    """The label `key` in `locale`, with `{placeholders}` filled."""
    label = LABELS[key][locale]
    return label.format(**values) if values else label


@cache
def _babel_locale(locale: Locale):  # type: ignore[no-untyped-def]
    from babel import Locale as BabelLocale

    return BabelLocale.parse("fr_FR" if locale == "fr" else "en_GB")


def currency_symbol(currency: str, locale: Locale) -> str:
    from babel.numbers import get_currency_symbol

    return get_currency_symbol(currency, locale=_babel_locale(locale))


def excel_number_format(fmt: Format, locale: Locale, currency: str, *, decimals: int = 0,
                        unit: str | None = None) -> str:
    """An Excel number format for a value of this kind. The codes are locale-free (the reader's
    spreadsheet shows its own separators); the currency symbol's side comes from CLDR."""
    digits = "#,##0" + ("." + "0" * decimals if decimals else "")
    if fmt == "percent":
        return "0" + ("." + "0" * max(decimals, 1)) + "%"
    if fmt == "currency":
        symbol = currency_symbol(currency, locale).replace('"', "")
        pattern = _babel_locale(locale).currency_formats["standard"].pattern
        after = pattern.index("¤") > pattern.index("0")
        return f'{digits}\\ "{symbol}"' if after else f'"{symbol}"{digits}'
    if fmt == "duration":
        return f'{digits}" s"'
    if unit:
        return f'{digits}" {unit.replace(chr(34), "")}"'
    return digits


def month_header_format(locale: Locale) -> str:
    """Month column headers, `janv. 2026` / `Jan 2026`: the LCID tag asks for that language's
    month names whatever the reader's settings (Google Sheets ignores it and uses its own)."""
    return "[$-40C]mmm\\ yyyy" if locale == "fr" else "[$-809]mmm\\ yyyy"
