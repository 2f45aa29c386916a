"""Everything that depends on the language: labels (fr/en) and number formats, in one place.

The workbook, the review and the mail take their words and formats from here. Number formats
come from Babel's CLDR data (e.g. the currency symbol after the amount in French).
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable, Sequence
from functools import cache, wraps
from typing import ParamSpec

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
    "col.figure": {"fr": "Chiffre", "en": "Figure"},
    "col.direction": {"fr": "Sens", "en": "Direction"},
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
    "status.no_data": {"fr": "Pas de données", "en": "No data"},
    "status.no_target": {"fr": "Sans cible", "en": "No target"},
    # directions and frequencies
    "direction.up": {"fr": "↑ plus haut = mieux", "en": "↑ higher is better"},
    "direction.down": {"fr": "↓ plus bas = mieux", "en": "↓ lower is better"},
    "frequency.weekly": {"fr": "hebdomadaire", "en": "weekly"},
    "frequency.monthly": {"fr": "mensuelle", "en": "monthly"},
    "frequency.quarterly": {"fr": "trimestrielle", "en": "quarterly"},
    "other": {"fr": "Autres données", "en": "Other inputs"},
    # a formula in words (formula.to_words)
    "words.prev": {"fr": "{x} du mois précédent", "en": "{x} of the month before"},
    "words.prev_n": {"fr": "{x} de {n} mois plus tôt", "en": "{x} of {n} months earlier"},
    "words.ytd": {"fr": "cumul de {x} depuis janvier", "en": "{x} added up since January"},
    "words.avg": {"fr": "moyenne de {x} sur les {n} derniers mois", "en": "average of {x} over the last {n} months"},
    "words.min": {"fr": "le plus petit de : {args}", "en": "the smallest of: {args}"},
    "words.max": {"fr": "le plus grand de : {args}", "en": "the largest of: {args}"},
    # the start sheet
    "start.period": {"fr": "Période : {first} à {last}", "en": "Period: {first} to {last}"},
    "start.how": {"fr": "Comment l'utiliser", "en": "How to use it"},
    "start.stamp": {"fr": "Classeur de {name} (responsable « {owner} »), seulement ses données. Version : config "
                          "{config}, {first} à {last}, généré le {generated} UTC",
                    "en": "{name}'s workbook (owner '{owner}'), their inputs only. Version: config {config}, {first} "
                          "to {last}, generated {generated} UTC"},
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
        "fr": "5. Pour la revue PDF du mois, dans un terminal, dans le dossier de la configuration :",
        "en": "5. For the month's PDF review, in a terminal, in the config's folder:",
    },
    "start.step6": {
        "fr": "6. Après un changement de la configuration (un KPI de plus, une autre année), refaites le "
              "classeur en gardant tout ce qui y est saisi (valeurs, notes, cibles, tolérances) :",
        "en": "6. After a change of the config (one more KPI, another year), rebuild the workbook keeping "
              "everything typed in it (values, notes, targets, tolerances):",
    },
    "start.protected": {
        "fr": "Les formules sont protégées contre l'écrasement (sans mot de passe : Révision > Ôter la "
              "protection). Une cellule vide = pas de donnée, jamais zéro.",
        "en": "Formulas are protected from being overwritten (no password: Review > Unprotect sheet). "
              "An empty cell means no data, never zero.",
    },
    "start.published.step5": {
        "fr": "5. L'onglet « Bibliothèque KPI » explique chaque indicateur : sa définition, sa formule en mots, "
              "le bon sens (plus haut ou plus bas = mieux), un repère quand il y en a un, et l'article d'où il vient.",
        "en": "5. The 'KPI library' sheet explains each KPI: its definition, its formula in words, which way is "
              "better (higher or lower), a benchmark where there is one, and the article it comes from.",
    },
    "start.published.step6": {
        "fr": "6. Il fonctionne tel quel dans Excel, LibreOffice Calc et Google Sheets (Fichier > Importer, ou "
              "ouvrez-le depuis Google Drive) : formules, couleurs et graphiques suivent vos saisies, sans macro.",
        "en": "6. It works as it is in Excel, LibreOffice Calc and Google Sheets (File > Import, or open it from "
              "Google Drive): formulas, colours and charts follow what you type, with no macro.",
    },
    "start.published.step7": {
        "fr": "7. Adaptez les cibles (cellules jaunes de l'onglet « Indicateurs ») et la tolérance à droite de "
              "chaque indicateur à vos objectifs ; gardez une copie vierge du modèle.",
        "en": "7. Set the targets (yellow cells of the 'KPIs' sheet) and the tolerance on the right of each KPI "
              "to your goals; keep a blank copy of the template.",
    },
    "start.published.protected": {
        "fr": "Les formules sont protégées contre l'écrasement, sans mot de passe (Excel : Révision > Ôter la "
              "protection ; LibreOffice : Outils > Protéger la feuille ; Google Sheets : Données > Protéger des "
              "feuilles et des plages). Une cellule vide = pas de donnée, jamais zéro.",
        "en": "Formulas are protected from being overwritten, with no password (Excel: Review > Unprotect Sheet; "
              "LibreOffice: Tools > Protect Sheet; Google Sheets: Data > Protect sheets and ranges). An empty "
              "cell means no data, never zero.",
    },
    "start.legend": {"fr": "Légende", "en": "Legend"},
    "start.legend.on": {"fr": "cible atteinte", "en": "target met"},
    "start.legend.watch": {"fr": "proche de la cible (dans la tolérance)", "en": "close to target (within tolerance)"},
    "start.legend.off": {"fr": "hors cible", "en": "off target"},
    "start.legend.no_data": {"fr": "pas encore de donnée", "en": "no data yet"},
    "start.legend.input": {"fr": "cellule à remplir", "en": "cell to fill in"},
    "start.owners": {"fr": "Qui suit quoi", "en": "Who tracks what"},
    # the published template: its KPI library sheet and its document properties
    "sheet.library": {"fr": "Bibliothèque KPI", "en": "KPI library"},
    "library.title": {"fr": "Bibliothèque des indicateurs", "en": "KPI library"},
    "library.hint": {"fr": "Ce que mesure chaque indicateur de ce classeur, comment il se calcule et d'où il vient.",
                     "en": "What each KPI of this workbook measures, how it is computed and where it comes from."},
    "col.benchmark": {"fr": "Repère", "en": "Benchmark"},
    "col.source": {"fr": "Article source", "en": "Source article"},
    "catalog.rows": {"fr": "depuis un export {kind}, une ligne par élément :",
                     "en": "from an export of {kind}, one row each:"},
    "catalog.rows.deals": {"fr": "d'affaires", "en": "deals"},
    "catalog.rows.customers": {"fr": "de clients", "en": "customers"},
    "library.own_kpi": {"fr": "indicateur propre à l'équipe (hors catalogue)",
                        "en": "the team's own KPI (not from the catalog)"},
    "publish.owner": {"fr": "Responsable {number}", "en": "Owner {number}"},
    "publish.subject": {"fr": "Modèle de suivi mensuel des KPI marketing et ventes",
                        "en": "Monthly marketing and sales KPI tracking template"},
    "publish.keywords": {"fr": "KPI, indicateurs de performance, tableau de bord, suivi mensuel, modèle Excel",
                         "en": "KPI, key performance indicators, dashboard, monthly tracking, Excel template"},
    "publish.description": {
        "fr": "Modèle vierge : saisissez vos chiffres chaque mois, chaque indicateur se calcule par formule face "
              "à sa cible. Excel, LibreOffice Calc et Google Sheets.",
        "en": "Blank template: type your figures every month, each KPI is computed by formula against its "
              "target. Excel, LibreOffice Calc and Google Sheets."},
    # inputs sheet
    "inputs.note": {"fr": "↳ note du mois (reprise dans la revue)", "en": "↳ note of the month (shown in the review)"},
    "inputs.title": {"fr": "Saisie mensuelle", "en": "Monthly inputs"},
    "inputs.rows": {"fr": "↳ lignes de la moyenne (pondération depuis janvier)",
                    "en": "↳ rows behind the mean (weights since January)"},
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
    "validation.target_percent": {
        "fr": "Un objectif entre -100 % et 100 % (tapez 12 % ou 0,12). Au-delà de 100 % (un ROI de 300 %), "
              "mettez l'objectif dans la configuration.",
        "en": "A target from -100 % to 100 % (type 12% or 0.12). Over 100 % (an ROI of 300 %), set the target "
              "in the config."},
    "validation.tolerance": {"fr": "Une marge entre 0 et 100 % de l'objectif (tapez 10 % ou 0,1).",
                             "en": "A margin from 0 to 100 % of the target (type 10% or 0.1)."},
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
    "dashboard.month_hint": {"fr": "(choisissez dans la liste, ou tapez une date : tout jour du mois le choisit)",
                             "en": "(pick from the list, or type a date: any day of a month picks it)"},
    "dashboard.month_outside": {"fr": "Mois hors de la période : choisissez de {first} à {last}",
                                "en": "Month outside the period: pick one from {first} to {last}"},
    "dashboard.summary": {"fr": "Synthèse du mois", "en": "The month at a glance"},
    "dashboard.table": {"fr": "Détail par indicateur", "en": "Each KPI"},
    "dashboard.charts": {"fr": "Réel et cible, mois par mois", "en": "Actual and target, month by month"},
    # the review
    "review.no_owner": {"fr": "Sans responsable", "en": "No owner"},
    "review.kind": {"fr": "Revue mensuelle des indicateurs", "en": "Monthly KPI review"},
    "review.for": {"fr": "Pour {name}", "en": "For {name}"},
    "review.partial": {"fr": "Données partielles au {day}", "en": "Partial data, up to {day}"},
    "review.summary": {"fr": "Synthèse", "en": "Summary"},
    "review.kpis_count": {"fr": "{count} indicateurs suivis", "en": "{count} KPIs tracked"},
    "review.improvements": {"fr": "Plus fortes progressions", "en": "Biggest improvements"},
    "review.declines": {"fr": "Plus forts reculs", "en": "Biggest declines"},
    "review.without_data": {"fr": "Sans données ce mois-ci", "en": "No data this month"},
    "review.none": {"fr": "aucun", "en": "none"},
    "review.vs_last_month": {"fr": "vs mois précédent", "en": "vs last month"},
    "review.value": {"fr": "Réel", "en": "Actual"},
    "review.target": {"fr": "Cible", "en": "Target"},
    "review.attainment": {"fr": "Atteinte", "en": "Attainment"},
    "review.mom": {"fr": "vs M-1", "en": "vs last month"},
    "review.yoy": {"fr": "vs N-1", "en": "vs last year"},
    "review.ytd": {"fr": "Depuis janvier", "en": "Year to date"},
    "review.owner": {"fr": "Responsable : {name}", "en": "Owner: {name}"},
    "review.benchmark": {"fr": "Repère : {value}", "en": "Benchmark: {value}"},
    "review.comment": {"fr": "Commentaire :", "en": "Comment:"},
    "review.text_cell": {"fr": "{cell} est du texte, pas un nombre : aucune valeur ce mois-ci (ressaisissez-le "
                                "comme un nombre).",
                         "en": "{cell} is text, not a number: no value this month (retype it as a number)."},
    "review.off_track": {"fr": "Hors cible ce mois-ci", "en": "Off track this month"},
    "review.off_track_shown": {"fr": " ; les {count} plus loin de leur cible",
                               "en": "; the {count} furthest from target"},
    "review.compact_legend": {"fr": "{count} indicateurs : un par ligne, sans graphique (une revue de plus de {above} "
                                    "indicateurs les présente en tableaux)",
                              "en": "{count} KPIs: one a line, without charts (a review of more than {above} KPIs "
                                    "lists them in tables)"},
    "review.no_data": {"fr": "Pas de données pour ce mois.", "en": "No data for this month."},
    "review.chart_legend": {"fr": "trait plein : réel · tirets : cible · 13 derniers mois",
                            "en": "solid: actual · dashed: target · last 13 months"},
    "review.chart_projection": {"fr": " · pointillés sur bande : projection jusqu'à décembre (intervalle à 80 %)",
                                "en": " · dotted over a band: projected to December (80 % interval)"},
    "review.chart_unusual": {"fr": " · cerclé de violet : mois inhabituel", "en": " · ringed in purple: unusual month"},
    "review.spark": {"fr": "12 mois", "en": "12 months"},
    "review.year_end": {"fr": "Fin d'année", "en": "Year end"},
    "review.year_target": {"fr": "Objectif annuel", "en": "Yearly target"},
    "review.ytd_target": {"fr": "Objectif à date", "en": "Target to date"},
    "review.year_end_legend": {
        "fr": "Fin d'année : le réel projeté à décembre, face à l'objectif annuel : ● atteinte probable · "
              "◐ possible · ○ peu probable ; — sans objectif annuel.",
        "en": "Year end: the actual projected to December, against the yearly target: ● likely · ◐ possible · "
              "○ unlikely to be reached; — without a yearly target."},
    "review.funnel": {"fr": "Entonnoir de conversion", "en": "Conversion funnel"},
    "review.stage": {"fr": "Étape", "en": "Stage"},
    "review.this_month": {"fr": "Ce mois-ci", "en": "This month"},
    "review.step_rate": {"fr": "Conversion depuis l'étape précédente", "en": "Conversion from the stage above"},
    "review.needed": {"fr": "Nécessaire pour la cible", "en": "Needed for the target"},
    "review.overall": {"fr": "Conversion de bout en bout : {rate}", "en": "End-to-end conversion: {rate}"},
    "review.funnel_target": {
        "fr": "Cible de la dernière étape : {target}. La dernière colonne remonte l'entonnoir aux taux de "
              "conversion de ce mois pour dire combien il faut à chaque étape.",
        "en": "Target for the last stage: {target}. The last column works back up the funnel at this month's "
              "conversion rates to tell how many each stage needs.",
    },
    "review.funnel_short": {
        "fr": "▲ : ce mois-ci, l'étape est en dessous de ce que la cible demande.",
        "en": "▲: this month, the stage is below what the target requires.",
    },
    "review.funnel_no_target": {
        "fr": "Ajoutez une cible à l'entonnoir (funnel: {stages: […], target: …}) pour chiffrer les étapes amont.",
        "en": "Give the funnel a target (funnel: {stages: […], target: …}) to work out what the stages above need.",
    },
    "review.page": {"fr": "Page", "en": "Page"},
    "review.generated": {"fr": "Produit par kpireport", "en": "Made by kpireport"},
    # why it moved, where the year is heading (sentences of why.py's and projection.py's facts)
    "why.rose": {"fr": "{label} progresse de {change} ({difference}) {versus}",
                 "en": "{label} rose {change} ({difference}) {versus}"},
    "why.fell": {"fr": "{label} recule de {change} ({difference}) {versus}",
                 "en": "{label} fell {change} ({difference}) {versus}"},
    "why.moved": {"fr": "{label} passe de {before} à {after} ({difference}) {versus}",
                  "en": "{label} went from {before} to {after} ({difference}) {versus}"},
    "why.stable": {"fr": "{label} est stable {versus} ({after})", "en": "{label} is unchanged {versus} ({after})"},
    "why.versus_month": {"fr": "par rapport au mois précédent", "en": "from last month"},
    "why.versus_year": {"fr": "sur un an", "en": "from a year earlier"},
    "why.offset": {"fr": "en partie compensé par", "en": "partly offset by"},
    "why.and": {"fr": "et", "en": "and"},
    "outlook.sentence": {
        "fr": "Projection {period} : {value} (entre {low} et {high}), pour un objectif de {target} : {outlook}.",
        "en": "Projected {period}: {value} (between {low} and {high}), against a target of {target}: {outlook}.",
    },
    "outlook.year": {"fr": "à fin d'année", "en": "for the year"},
    "outlook.quarter": {"fr": "à fin de trimestre", "en": "for the quarter"},
    "outlook.likely": {"fr": "atteinte probable", "en": "likely to be reached"},
    "outlook.possible": {"fr": "atteinte possible", "en": "within reach, not certain"},
    "outlook.unlikely": {"fr": "atteinte peu probable", "en": "unlikely to be reached"},
    "outlook.needed": {"fr": " Il faut {needed} par mois d'ici {end}.",
                       "en": " It needs {needed} a month until {end}."},
    "outlook.needed_rate": {"fr": " Il faut {needed} sur les mois restants d'ici {end}.",
                            "en": " It needs {needed} over the remaining months until {end}."},
    # the summary (summary.py): its facts, and a line when none stands out
    "summary.off": {"fr": "{label} est hors cible : {value} pour une cible de {target}{attainment}.",
                    "en": "{label} is off target: {value} against a target of {target}{attainment}."},
    "summary.attainment": {"fr": " ({attainment} de la cible)", "en": " ({attainment} of it)"},
    "summary.projection": {"fr": "{label} — {sentence}", "en": "{label} — {sentence}"},
    "summary.it": {"fr": "L'indicateur", "en": "It"},
    "summary.unusual_high": {
        "fr": "{label} : {value}, un mois inhabituellement haut ({by}au-dessus de sa saison et de sa tendance).",
        "en": "{label}: {value}, an unusually high month ({by}above its season and trend).",
    },
    "summary.unusual_low": {
        "fr": "{label} : {value}, un mois inhabituellement bas ({by}en dessous de sa saison et de sa tendance).",
        "en": "{label}: {value}, an unusually low month ({by}below its season and trend).",
    },
    "summary.deviations": {"fr": "{z} écarts robustes ", "en": "{z} robust deviations "},
    "summary.calm": {
        "fr": "Rien à signaler : {on}, {watch} à surveiller, aucune projection annuelle menacée, aucun mois "
              "inhabituel.",
        "en": "Nothing stands out: {on}, {watch} to watch, no yearly projection at risk, no unusual month.",
    },
    "summary.on_one": {"fr": "{count} indicateur atteint", "en": "{count} KPI on target"},
    "summary.on_many": {"fr": "{count} indicateurs atteints", "en": "{count} KPIs on target"},
    "summary.labelled": {"fr": "{label} : {sentence}", "en": "{label}: {sentence}"},
    "summary.notes": {"fr": "Notes des responsables", "en": "Owners' notes"},
}

MINUS = "\u2212"  # a real minus sign in sentences, as typeset text has (−24 799 €, not -24 799 €)


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


# --- values as the review and the mail print them ------------------------------------------------


def _pattern(kind: str, locale: Locale) -> str:
    formats = _babel_locale(locale).percent_formats if kind == "percent" else _babel_locale(locale).currency_formats
    return formats[None if kind == "percent" else "standard"].pattern


_P = ParamSpec("_P")


def _as_spreadsheets_round(format_: Callable[_P, str]) -> Callable[_P, str]:
    """Halves rounded away from 0 (27 336,5 € shows as 27 337 €, as Excel, LibreOffice and Google Sheets
    show the same cell; Babel rounds them to even) and a real minus sign (−0,5 %), as the change
    columns and sentences beside them write it."""
    @wraps(format_)
    def formatted(*args: _P.args, **kwargs: _P.kwargs) -> str:
        with decimal.localcontext(rounding=decimal.ROUND_HALF_UP):
            return format_(*args, **kwargs).replace("-", MINUS)
    return formatted


@_as_spreadsheets_round
def format_number(value: float, locale: Locale, decimals: int | None = None, *, extra: int = 0,
                  sign: bool = False) -> str:
    from babel.numbers import format_decimal

    if decimals is None:  # as many decimals as a person would write for that size
        decimals = 0 if abs(value) >= 100 or float(value).is_integer() else 1 if abs(value) >= 10 else 2
    decimals += extra
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    if sign:
        pattern = f"+{pattern};-{pattern}"
    return format_decimal(value, pattern, locale=_babel_locale(locale))


def format_points(points: float, locale: Locale) -> str:
    """A change of rate in percentage points, `+14,2 pts`: a second decimal only when the first
    would print a real change as 0."""
    decimals = 2 if 0 < abs(points) < 0.05 else 1
    return f"{format_number(points, locale, decimals, sign=True)}\u00a0pts"


@_as_spreadsheets_round
def format_percent(value: float, locale: Locale, decimals: int = 1, sign: bool = False) -> str:
    from babel.numbers import format_percent as babel_percent

    pattern = _pattern("percent", locale).replace("#,##0", "#,##0" + ("." + "0" * decimals if decimals else ""))
    if sign:
        pattern = f"+{pattern};-{pattern}"
    return babel_percent(value, pattern, locale=_babel_locale(locale))


def format_attainment(attainment: float, tolerance: float, locale: Locale) -> str:
    """An attainment in whole percents, with a decimal or two where rounding would carry it across an
    edge of the status band: a KPI just short of its target (watch) shows 99,7 %, not 100 %."""
    def reaches(number: float, edge: float) -> bool:
        return number >= edge or math.isclose(number, edge, rel_tol=1e-9)

    def rounded(decimals: int, rounding: str) -> float:
        step = decimal.Decimal(1).scaleb(-decimals)
        return float(decimal.Decimal(str(attainment * 100)).quantize(step, rounding=rounding)) / 100

    for decimals in range(3):
        shown = rounded(decimals, decimal.ROUND_HALF_UP)
        if all(reaches(shown, edge) == reaches(attainment, edge) for edge in (1.0, 1.0 - tolerance)):
            return format_percent(shown, locale, decimals)
    # closer still: cut, since half-up can carry a number only up onto an edge (99,996 % shows 99,99 %)
    return format_percent(rounded(2, decimal.ROUND_FLOOR), locale, 2)


@_as_spreadsheets_round
def format_currency(value: float, currency: str, locale: Locale, *, cents: bool = False) -> str:
    from babel.numbers import format_currency as babel_currency

    pattern = _pattern("currency", locale)
    if abs(value) >= 1000 and not cents:  # cents mean nothing next to thousands
        pattern = pattern.replace("0.00", "0")
    return babel_currency(value, currency, pattern, locale=_babel_locale(locale), currency_digits=False)


def format_duration(seconds: float) -> str:
    seconds = math.floor(seconds + 0.5)  # a half second up, as a spreadsheet rounds (round() goes to even)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_value(value: float | None, fmt: Format, locale: Locale, currency: str, unit: str | None = None,
                 *, extra: int = 0) -> str:
    """A KPI value for people: `24,9 %`, `362 240 €`, `2 min 30 s`, `66 jours`; no value is a dash.
    `extra` decimals tell apart values that the usual ones would print alike."""
    if value is None:
        return "—"
    if fmt == "percent":
        return format_percent(value, locale, 1 + extra)
    if fmt == "currency":
        return format_currency(value, currency, locale, cents=extra > 0)
    if fmt == "duration":
        return format_duration(value)
    number = format_number(value, locale, extra=extra)
    return f"{number}\u00a0{unit}" if unit else number


def format_benchmark(low: float | None, high: float | None, note: str, fmt: Format, locale: Locale,
                     currency: str, unit: str | None = None) -> str:
    """A reference range from the articles and what it is for: `30,0 % – 50,0 % (site B2B)`."""
    parts = [format_value(v, fmt, locale, currency, unit) for v in (low, high) if v is not None]
    return f"{' – '.join(parts)} ({note})" if parts else note


def distinct_extra(values: Sequence[float | None], fmt: Format, locale: Locale, currency: str,
                   unit: str | None = None) -> int:
    """How many more decimals (at most 3) values shown side by side (actual, target, year to date)
    need for two different ones never to print the same: `0,23 %` against `0,21 %`, not `0,2 %`
    twice, and a KPI short of its target never shows the target's figure."""
    for extra in range(3):
        texts = [format_value(v, fmt, locale, currency, unit, extra=extra) for v in values]
        if not any(texts[i] == texts[j] and a != b for i, a in enumerate(values) for j, b in enumerate(values)
                   if i < j and a is not None and b is not None):
            return extra
    return 3


def format_values(values: Sequence[float | None], fmt: Format, locale: Locale, currency: str,
                  unit: str | None = None) -> list[str]:
    """`values` formatted alike, with the decimals `distinct_extra` finds."""
    extra = distinct_extra(values, fmt, locale, currency, unit)
    return [format_value(v, fmt, locale, currency, unit, extra=extra) for v in values]


@_as_spreadsheets_round
def format_axis(value: float, fmt: Format, locale: Locale, currency: str, step: float) -> str:
    """A chart's axis label, as short as its ticks' `step` allows: `26 %`, `5,5 k€`, `14 k`, `2,5`.
    (Short also because WeasyPrint lays SVG text out letter by letter.)"""
    from babel.numbers import format_compact_currency, format_compact_decimal

    def decimals(unit: float) -> int:  # enough to write every multiple of `step` exactly, in `unit`s
        return next((d for d in range(3) if abs(round(step / unit * 10**d) - step / unit * 10**d) < 1e-6), 2)

    if fmt == "percent":
        return format_percent(value, locale, decimals(0.01))
    if fmt == "duration":
        return format_duration(value)
    if abs(value) < 1000:
        text_ = format_number(value, locale, decimals(1))
        return format_currency_symbol(text_, currency, locale) if fmt == "currency" else text_
    digits = decimals(1_000_000 if abs(value) >= 1_000_000 else 1000)
    if fmt == "currency":
        return format_compact_currency(value, currency, locale=_babel_locale(locale), fraction_digits=digits)
    return format_compact_decimal(value, locale=_babel_locale(locale), fraction_digits=digits)


def format_currency_symbol(number: str, currency: str, locale: Locale) -> str:
    """`500 €` / `€500`: an already formatted number with the currency sign where the locale puts it."""
    from babel.numbers import get_currency_symbol

    symbol = get_currency_symbol(currency, locale=_babel_locale(locale))
    return f"{number}\u00a0{symbol}" if _pattern("currency", locale).rstrip().endswith("¤") else f"{symbol}{number}"


def format_month(month_day, locale: Locale, pattern: str = "LLLL yyyy") -> str:  # type: ignore[no-untyped-def]
    """`octobre 2026` / `October 2026` (or another CLDR date pattern)."""
    from babel.dates import format_date

    return format_date(month_day, pattern, locale=_babel_locale(locale))


# --- sentences -------------------------------------------------------------------------------------


def format_signed(value: float, fmt: Format, locale: Locale, currency: str, unit: str | None = None) -> str:
    """A change in a KPI's unit with its sign: `+5 700 €`, `−3`, and for a rate `+1,2 pts`."""
    if fmt == "percent":
        return format_points(value * 100, locale)
    sign = "+" if value > 0 else MINUS if value < 0 else ""
    return sign + format_value(abs(value), fmt, locale, currency, unit)


def format_change(change: float, locale: Locale, *, sign: bool = True) -> str:
    """A relative change, `−14 %`, `+6,4 %`: one decimal under 10 %, where it still says something."""
    decimals = 1 if abs(change) < 0.1 else 0
    return format_percent(change, locale, decimals, sign=sign)


def movement_sentence(movement, kpi, locale: Locale, currency: str,  # type: ignore[no-untyped-def]
                      subject: str | None = None) -> str:
    """One sentence on why.Movement `movement` of `kpi` (a config.Kpi): the change, then the parts that
    made it, largest first, those that went the other way last ("en partie compensé par …").
    `subject` stands for the KPI's label (after a sentence that named it: "It fell …")."""
    values = {"label": subject or kpi.label, "versus": text("why.versus_month" if movement.versus == movement.month - 1
                                                  else "why.versus_year", locale)}
    fmt, unit = kpi.format, kpi.unit
    difference = movement.after - movement.before
    before, after = format_values([movement.before, movement.after], fmt, locale, currency, unit)
    if difference == 0 or before == after:  # float noise (27,0000 % to 27,0000 %, −0,00 pts) is no move
        return text("why.stable", locale, after=format_value(movement.after, fmt, locale, currency, unit),
                    **values) + "."
    if fmt == "percent" or movement.change is None:
        # a rate moves in points, and a change from 0 has no percentage
        head = text("why.moved", locale, before=before, after=after,
                    difference=format_signed(difference, fmt, locale, currency, unit), **values)
    else:
        head = text("why.rose" if difference > 0 else "why.fell", locale,
                    change=format_change(abs(movement.change), locale, sign=False),
                    difference=format_signed(difference, fmt, locale, currency, unit), **values)
    drivers = [part for part in movement.parts if part.effect * difference > 0]
    offsets = [part for part in movement.parts if part.effect * difference < 0]
    if not drivers:
        return head + "."

    def phrase(part) -> str:  # type: ignore[no-untyped-def]
        own = f" {format_change(part.change, locale)}" if part.change is not None else ""
        return f"{part.label}{own} ({format_signed(part.effect, fmt, locale, currency, unit)})"

    said = head + " : " if locale == "fr" else head + ": "
    said += _listed([phrase(part) for part in drivers], locale)
    if offsets:
        said += f", {text('why.offset', locale)} " + _listed([phrase(part) for part in offsets], locale)
    return said + "."


def outlook_sentence(projection, kpi, locale: Locale, currency: str, period: str = "year") -> str:  # type: ignore[no-untyped-def]
    """One sentence on projection.Projection `projection` of `kpi` against its target: where the
    period lands, its 80 % interval, the outlook, and what the remaining months need."""
    fmt, unit = kpi.format, kpi.unit
    value, low, high, target = format_values([projection.value, projection.low, projection.high, projection.target],
                                             fmt, locale, currency, unit)
    said = text("outlook.sentence", locale, period=text(f"outlook.{period}", locale), value=value, low=low,
                high=high, target=target, outlook=text(f"outlook.{projection.outlook}", locale))
    if projection.needed is not None and projection.outlook != "likely":
        needed = format_value(projection.needed, fmt, locale, currency, unit)
        end = format_month(projection.end.first_day, locale, "LLLL")
        said += text("outlook.needed_rate" if fmt == "percent" else "outlook.needed", locale, needed=needed, end=end)
    return said


def _listed(phrases: list[str], locale: Locale) -> str:
    if len(phrases) < 2:
        return "".join(phrases)
    return f"{', '.join(phrases[:-1])} {text('why.and', locale)} {phrases[-1]}"
